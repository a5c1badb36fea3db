# ED10 / ED90 of drc's LL.4 / LL.3 with three 95 % intervals, computed independently of
# nmmstrial: the model is refitted by nls with ln(ED_p) itself as a parameter,
#   f = c + (d - c) / (1 + exp(b (ln x - (led - ln(p / (100 - p)) / b)))),  b > 0,
# so the standard error of led needs no delta method. Standard errors are drc's:
# vcov = s^2 (H / 2)^-1, H the exact Hessian of the residual sum of squares (from R's
# symbolic deriv3, not finite differences). Intervals: Wald on the natural scale
# (ED +/- t SE(ED), SE(ED) = ED SE(led), what drc's ED(interval = "delta") prints), on
# the log scale (exp(led +/- t SE(led))), and the profile likelihood (confint.nls on
# led, t cut-off). NA = the profile does not reach the limit (R gives up).
# "ryegrass_rising" is 10 - rootl: an agonist-like rising curve, to check that ED10 is
# counted from the zero-dose plateau whatever the direction.
# Run from the repository root: Rscript tests/assays/reference/doseresponse_ed.R
data_dir <- "tests/assays/data/dose_response"

ed_fit <- function(data, x, y, p, ll3 = FALSE) {
  data <- data.frame(x = data[[x]], y = data[[y]])
  k <- log(p / (100 - p))
  # b > 0: d is the zero-dose plateau, c the high-dose one, whichever is larger
  d0 <- mean(data$y[data$x == min(data$x)])
  c0 <- mean(data$y[data$x == max(data$x)])
  le0 <- log(median(data$x[data$x > 0]))
  base <- if (ll3) {
    nls(y ~ d / (1 + exp(b * (log(x) - le))), data = data,
        start = list(b = 2.5, d = d0, le = le0))
  } else {
    nls(y ~ c + (d - c) / (1 + exp(b * (log(x) - le))), data = data, algorithm = "port",
        start = list(b = 3, c = c0, d = d0, le = le0))
  }
  start <- as.list(coef(base))
  start$led <- start$le + k / start$b
  start$le <- NULL
  form <- if (ll3) {
    y ~ d / (1 + exp(b * (log(x) - (led - k / b))))
  } else {
    y ~ c + (d - c) / (1 + exp(b * (log(x) - (led - k / b))))
  }
  m <- nls(form, data = data, start = start)
  theta <- coef(m)
  names_ <- names(theta)
  # exact Hessian of f by symbolic differentiation; x = 0 enters as log(0) = -Inf,
  # where f is the zero-dose plateau and its derivatives are those of the limit
  rhs <- form[[3]]
  dd <- deriv3(rhs, names_, function.arg = c(names_, "x", "k"))
  ev <- do.call(dd, c(as.list(theta), list(x = pmax(data$x, 1e-300), k = k)))
  J <- attr(ev, "gradient")
  Hf <- attr(ev, "hessian")
  r <- data$y - as.numeric(ev)
  H <- 2 * crossprod(J)
  for (i in seq_along(r)) H <- H - 2 * r[i] * Hf[i, , ]
  df <- nrow(data) - length(theta)
  s2 <- sum(r^2) / df
  vcov <- s2 * solve(H / 2)
  se_led <- sqrt(vcov["led", "led"])
  ed <- exp(theta[["led"]])
  t <- qt(0.975, df)
  prof <- tryCatch(suppressMessages(exp(confint(m, "led"))), error = function(e) NULL)
  if (is.null(prof)) prof <- exp(profile_by_root(m, data, form, k, df))
  list(ed = ed, se = ed * se_led, wald = ed + c(-1, 1) * t * ed * se_led,
       log = exp(theta[["led"]] + c(-1, 1) * t * se_led), profile = unname(prof))
}

# The profile by its definition, where confint.nls stops on a "singular gradient": for
# a fixed led the other parameters are refitted (port, b > 0) and the limits are the
# roots of RSS(led) - RSS - s^2 t^2, searched within 1000x of the doses (NA beyond).
# Where both work they agree within 0.05 % (confint interpolates with a spline).
profile_by_root <- function(m, data, form, k, df) {
  theta <- coef(m)
  target <- deviance(m) * (1 + qt(0.975, df)^2 / df)
  rest <- as.list(theta[names(theta) != "led"])
  excess <- function(led) {
    env <- list2env(list(led = led, k = k), parent = environment(form))
    environment(form) <- env
    fit <- tryCatch(nls(form, data = data, start = rest, algorithm = "port",
                        lower = c(b = 1e-3, c = -Inf, d = -Inf)[names(rest)]),
                    error = function(e) NULL)
    if (is.null(fit)) return(NA)
    deviance(fit) - target
  }
  span <- log(range(data$x[data$x > 0])) + c(-1, 1) * log(1000)
  limit <- function(to) {
    grid <- seq(theta[["led"]], to, length.out = 400)
    values <- vapply(grid, excess, 0)
    cross <- which(values > 0)[1]
    if (is.na(cross) || any(is.na(values[seq_len(cross)]))) return(NA)
    uniroot(excess, sort(grid[c(cross - 1, cross)]), tol = 1e-12)$root
  }
  c(limit(span[1]), limit(span[2]))
}

ryegrass <- read.csv(file.path(data_dir, "drc_ryegrass.csv"))
rising <- transform(ryegrass, rootl = 10 - rootl)
secalonic <- read.csv(file.path(data_dir, "drc_secalonic.csv"))
alba <- read.csv(file.path(data_dir, "drc_S.alba.csv"))
sets <- list(
  ryegrass = list(ryegrass, "conc", "rootl", FALSE),
  ryegrass_rising = list(rising, "conc", "rootl", FALSE),
  secalonic_LL3 = list(secalonic, "dose", "rootl", TRUE),
  S.alba_Glyphosate = list(subset(alba, Herbicide == "Glyphosate"), "Dose", "DryMatter", FALSE)
)
num <- function(v) ifelse(is.na(v), "null", formatC(v, digits = 10, format = "g"))
pair <- function(v) sprintf("[%s, %s]", num(v[1]), num(v[2]))
lines <- c()
for (name in names(sets)) {
  s <- sets[[name]]
  for (p in c(10, 90)) {
    f <- ed_fit(s[[1]], s[[2]], s[[3]], p, ll3 = s[[4]])
    lines <- c(lines, sprintf(
      '  "%s_ed%d": {"ed": %s, "se": %s, "wald": %s, "log": %s, "profile": %s}',
      name, p, num(f$ed), num(f$se), pair(f$wald), pair(f$log), pair(f$profile)))
  }
}
writeLines(c("{", paste(lines, collapse = ",\n"), "}"), "tests/assays/reference/doseresponse_ed.json")
