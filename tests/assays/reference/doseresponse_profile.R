# Profile-likelihood 95 % CIs for the EC50 (e) of drc's LL.4 / LL.3 by R's nls + confint
# (MASS profiling, which uses the same t-based cut-off as nmmstrial's profile CI).
# Run from the repository root: Rscript tests/assays/reference/doseresponse_profile.R
# Writes tests/assays/reference/doseresponse_profile.json. NA = the profile does not
# reach the limit (R gives up); nmmstrial reports None there.
data_dir <- "tests/assays/data/dose_response"
fit <- function(data, x, y, ll3 = FALSE) {
  data$x <- data[[x]]
  data$y <- data[[y]]
  if (ll3) {
    m <- nls(y ~ d / (1 + exp(b * (log(x) - le))), data = data,
             start = list(b = 2.5, d = 5.5, le = log(0.08)))
  } else {
    s <- list(b = 3, c = min(data$y), d = max(data$y), le = log(median(data$x[data$x > 0])))
    m <- nls(y ~ c + (d - c) / (1 + exp(b * (log(x) - le))), data = data, start = s,
             algorithm = "port")
  }
  ci <- suppressMessages(confint(m, "le"))
  list(e = unname(exp(coef(m)["le"])), profile = unname(exp(ci)))
}
ryegrass <- read.csv(file.path(data_dir, "drc_ryegrass.csv"))
secalonic <- read.csv(file.path(data_dir, "drc_secalonic.csv"))
alba <- read.csv(file.path(data_dir, "drc_S.alba.csv"))
out <- list(
  ryegrass = fit(ryegrass, "conc", "rootl"),
  secalonic = fit(secalonic, "dose", "rootl"),
  secalonic_LL3 = fit(secalonic, "dose", "rootl", ll3 = TRUE),
  S.alba_Glyphosate = fit(subset(alba, Herbicide == "Glyphosate"), "Dose", "DryMatter"),
  S.alba_Bentazone = fit(subset(alba, Herbicide == "Bentazone"), "Dose", "DryMatter")
)
num <- function(v) ifelse(is.na(v), "null", formatC(v, digits = 10, format = "g"))
lines <- vapply(names(out), function(n) {
  sprintf('  "%s": {"e": %s, "profile": [%s, %s]}', n, num(out[[n]]$e),
          num(out[[n]]$profile[1]), num(out[[n]]$profile[2]))
}, "")
writeLines(c("{", paste(lines, collapse = ",\n"), "}"), "tests/assays/reference/doseresponse_profile.json")
