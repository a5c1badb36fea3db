# Reference values for nmmstrial.design.power, from R's pwr (1.3.0).
# Run: Rscript tests/design/reference/power.R   (writes power.json beside this script)
# t tests: pwr.t.test solves n, power or d directly. F tests (RM ANOVA within, within x
# within interaction): pwr.f2.test with f2 = lambda / (u + v + 1), which makes its
# noncentrality lambda = f2 (u + v + 1) equal to G*Power's n m f^2 eps / (1 - rho);
# u = (k - 1) eps, v = (n - 1)(k - 1) eps. n is solved with uniroot on that power.
suppressPackageStartupMessages({library(pwr); library(jsonlite)})
here <- tryCatch(dirname(normalizePath(sys.frame(1)$ofile)), error = function(e) {
  args <- commandArgs(FALSE); f <- sub("--file=", "", args[grep("--file=", args)])
  dirname(normalizePath(f))
})
tol <- 1e-12
t_case <- function(test, type, n = NULL, d = NULL, power = NULL, alpha = 0.05) {
  r <- pwr.t.test(n = n, d = d, power = power, sig.level = alpha, type = type,
                  alternative = "two.sided")
  list(test = test, given = list(n = n, d = d, power = power, alpha = alpha),
       n = r$n, d = r$d, power = r$power)
}
f_power <- function(n, f, k, cells, eps, rho, alpha) {
  u <- (k - 1) * eps; v <- (n - 1) * (k - 1) * eps
  lambda <- n * cells * f^2 * eps / (1 - rho)
  pwr.f2.test(u = u, v = v, f2 = lambda / (u + v + 1), sig.level = alpha)$power
}
f_case <- function(test, k, eps, rho, f, n = NULL, power = NULL, alpha = 0.05) {
  cells <- if (test == "rm-anova") k else 2 * k
  if (is.null(n)) {
    n <- uniroot(function(x) f_power(x, f, k, cells, eps, rho, alpha) - power,
                 c(2 + 1e-9, 1e4), tol = tol)$root
  }
  list(test = test, given = list(n = if (is.null(power)) n else NULL, d = f,
       power = power, alpha = alpha, k = k, eps = eps, rho = rho),
       n = n, d = f, power = f_power(n, f, k, cells, eps, rho, alpha))
}
cases <- list(
  # The paper: pooled SD 4.9, 80 %, alpha 0.05, n = 11 pairs -> the implied d_z.
  t_case("paired-t", "paired", n = 11, power = 0.8),
  t_case("paired-t", "paired", d = 0.5, power = 0.8),   # G*Power: N = 34
  t_case("paired-t", "paired", d = 0.5, power = 0.95),  # G*Power manual: N = 54
  t_case("paired-t", "paired", n = 22, d = 0.6),
  t_case("paired-t", "paired", n = 15, d = 1.2, alpha = 0.01),
  t_case("two-sample-t", "two.sample", d = 0.5, power = 0.95),  # G*Power: 105 per group
  t_case("two-sample-t", "two.sample", n = 20, d = 0.8),
  t_case("two-sample-t", "two.sample", n = 30, power = 0.9),
  f_case("rm-anova", k = 4, eps = 1, rho = 0.5, f = 0.25, power = 0.95),  # G*Power: N = 36
  f_case("rm-anova", k = 3, eps = 1, rho = 0.5, f = 0.25, power = 0.8),   # G*Power: N = 28
  f_case("rm-anova", k = 4, eps = 0.566, rho = 0.7, f = 0.3, n = 22),     # paper's GG eps
  f_case("rm-anova", k = 4, eps = 0.6, rho = 0.5, f = 0.2, power = 0.8),
  f_case("interaction", k = 4, eps = 1, rho = 0.5, f = 0.25, n = 11),
  f_case("interaction", k = 4, eps = 0.6, rho = 0.5, f = 0.25, power = 0.8),
  f_case("interaction", k = 3, eps = 0.75, rho = 0.3, f = 0.15, power = 0.9)
)
out <- list(r_version = R.version.string, pwr_version = as.character(packageVersion("pwr")),
            cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE),
           file.path(here, "power.json"))
