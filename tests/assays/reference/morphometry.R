# Reference values for nmmstrial.assays.morphometry.split_body: lme4 (REML), lmerTest
# (Satterthwaite), stats::t.test and stats::bw.nrd0.
#
# Run from the repository root:  Rscript tests/assays/reference/morphometry.R
# Writes morphometry_fibres.csv (a split-body fibre table, read back before fitting so
# R and Python see the same numbers) and morphometry.json:
# - models[type]: summary(fit)$coefficients and as.data.frame(VarCorr(fit)) for
#   diameter_um ~ arm + (1 | patient) + (1 | patient:side), arm levels sham, real
# - means_tests[type]: t.test(real, sham, paired = TRUE) on per-patient mean diameters
# - pct_fast_test: t.test(real, sham, paired = TRUE) on % fast = fast / (fast + slow)
# - bandwidths: bw.nrd0 per type and arm
# The fit is polished to the REML optimum (three Newton steps on devfun, as in
# tests/analysis/reference/mixed.R) so the fixture is not an optimizer's stopping point.
#
# Data: 5 made-up patients shaped as the paper's morphometry (4 patients there): each
# patient's left or right side real, the other sham; 50-140 fibres per section; fast
# fibres about 60 % and larger in the real arm, slow fibres slightly smaller; one
# patient's sham section has 30 fibres, below the 50-fibre minimum, and is left out.

suppressPackageStartupMessages({
  library(lmerTest)
  library(jsonlite)
})

here <- file.path("tests", "assays", "reference")
set.seed(20261125)

rows <- list()
for (p in 1:5) {
  patient <- sprintf("P%02d", p)
  real_side <- if (p %% 2 == 1) "left" else "right"
  patient_shift <- rnorm(1, 0, 6)
  for (side in c("left", "right")) {
    arm <- if (side == real_side) "real" else "sham"
    n <- if (p == 5 && arm == "sham") 30 else sample(50:140, 1)
    section_shift <- rnorm(1, 0, 2)
    fast <- runif(n) < (if (arm == "real") 0.65 else 0.55)
    base <- ifelse(fast, 62, 55) + ifelse(arm == "real", ifelse(fast, 5, -1.5), 0)
    d <- base + patient_shift + section_shift + rnorm(n, 0, 12)
    d <- pmin(pmax(d, 8), 108)
    rows[[length(rows) + 1]] <- data.frame(
      patient = patient, side = side, arm = arm, fibre = seq_len(n),
      diameter_um = round(d, 3), type = ifelse(fast, "fast", "slow")
    )
  }
}
csv <- file.path(here, "morphometry_fibres.csv")
write.csv(do.call(rbind, rows), csv, row.names = FALSE)
fibres <- read.csv(csv)

counts <- aggregate(fibre ~ patient + side, fibres, length)
keep <- counts[counts$fibre >= 50, c("patient", "side")]
data <- merge(fibres, keep)
data$arm <- factor(data$arm, levels = c("sham", "real"))

tight <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14, ftol_rel = 1e-15,
                 maxeval = 1e5)
)

fit_type <- function(kind) {
  sub <- data[data$type == kind, ]
  full <- diameter_um ~ arm + (1 | patient) + (1 | patient:side)
  fit <- lmer(full, data = sub, REML = TRUE, control = tight)
  devfun <- update(fit, devFunOnly = TRUE)
  theta <- getME(fit, "theta")
  for (step in 1:3) {
    theta <- theta - solve(numDeriv::hessian(devfun, theta), numDeriv::grad(devfun, theta))
  }
  fit <- lmer(full, data = sub, REML = TRUE, start = list(theta = theta),
              control = lmerControl(optimizer = NULL))
  if (isSingular(fit)) stop(kind, ": singular fit; pick another seed")
  co <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  means <- aggregate(diameter_um ~ patient + arm, sub, mean)
  wide <- reshape(means, idvar = "patient", timevar = "arm", direction = "wide")
  wide <- wide[complete.cases(wide), ]
  tt <- t.test(wide$diameter_um.real, wide$diameter_um.sham, paired = TRUE)
  list(
    model = list(
      fixed = data.frame(term = rownames(co), estimate = co[, "Estimate"],
                         se = co[, "Std. Error"], df = co[, "df"], t = co[, "t value"],
                         p = co[, "Pr(>|t|)"], row.names = NULL),
      random = data.frame(group = vc$grp, vcov = vc$vcov),
      n_obs = nobs(fit)
    ),
    means_test = list(estimate = unname(tt$estimate), t = unname(tt$statistic),
                      df = unname(tt$parameter), p = tt$p.value, n = nrow(wide))
  )
}

pct <- aggregate(type ~ patient + arm, data, function(t) 100 * mean(t == "fast"))
pct_wide <- reshape(pct, idvar = "patient", timevar = "arm", direction = "wide")
pct_wide <- pct_wide[complete.cases(pct_wide), ]
pt <- t.test(pct_wide$type.real, pct_wide$type.sham, paired = TRUE)

bandwidths <- list()
for (kind in c("slow", "fast")) for (arm in c("sham", "real")) {
  x <- data$diameter_um[data$type == kind & data$arm == arm]
  bandwidths[[length(bandwidths) + 1]] <- list(type = kind, arm = arm, n = length(x),
                                               bandwidth = bw.nrd0(x))
}

slow <- fit_type("slow")
fast <- fit_type("fast")
result <- list(
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                  lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest"))),
  excluded_sections = nrow(counts) - nrow(keep),
  models = list(slow = slow$model, fast = fast$model),
  means_tests = list(slow = slow$means_test, fast = fast$means_test),
  pct_fast_test = list(estimate = unname(pt$estimate), t = unname(pt$statistic),
                       df = unname(pt$parameter), p = pt$p.value, n = nrow(pct_wide)),
  bandwidths = bandwidths
)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "morphometry.json"))
