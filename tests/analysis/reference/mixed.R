# Reference values for nmmstrial.analysis.mixed_model: lme4 (REML), lmerTest, pbkrtest, emmeans.
#
# Run from the repository root:  Rscript tests/analysis/reference/mixed.R
# Writes mixed/<data>.csv (read back before fitting so R and Python see the same numbers)
# and mixed/<case>.json: the mixed_model() arguments, package versions, and
# - fixed:     summary(fit)$coefficients (Satterthwaite), one row per term
# - anova:     anova(fit, type = 3)
# - random:    as.data.frame(VarCorr(fit))
# - contrasts: emmeans trt.vs.ctrl contrasts, unadjusted, with 95 % CIs
# - the same fixed / anova / contrasts with Kenward-Roger under "kenward_roger".
# The fixture is the REML optimum itself, not an optimizer's stopping point: nloptwrap
# runs to tight tolerances (it still stops ~1e-6 away in theta), three Newton steps on
# devfun with numDeriv's gradient and Hessian polish theta, and the model is refitted
# at that theta without optimizing (lmerControl(optimizer = NULL)).
#
# Data: lme4's sleepstudy (plus a made-up between-subject `cohort`); a trial-shaped
# split-body set (22 patients x arm x time, 6 visits missing), also with made-up
# covariates for lmerTest's type 3 quirks and as change from baseline; a small set
# whose patient variance traps gradient optimizers at theta = 0; and an unbalanced
# oocyte set (15 patients, 5-10 oocytes per patient and arm, 2-4 recordings each).

suppressPackageStartupMessages({
  library(lmerTest)
  library(emmeans)
  library(jsonlite)
})

out <- file.path("tests", "analysis", "reference", "mixed")
dir.create(out, showWarnings = FALSE, recursive = TRUE)

versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  pbkrtest = as.character(packageVersion("pbkrtest")),
  emmeans = as.character(packageVersion("emmeans"))
)

tight <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14, ftol_rel = 1e-15,
                 maxeval = 1e5)
)

write_data <- function(name, data) {
  csv <- file.path(out, paste0(name, ".csv"))
  write.csv(data, csv, row.names = FALSE)
  read.csv(csv)
}

coef_rows <- function(table) {
  data.frame(term = rownames(table), estimate = table[, "Estimate"],
             se = table[, "Std. Error"], df = table[, "df"], t = table[, "t value"],
             p = table[, "Pr(>|t|)"], row.names = NULL)
}

anova_rows <- function(table) {
  data.frame(term = rownames(table), F = table[["F value"]], df1 = table[["NumDF"]],
             df2 = table[["DenDF"]], p = table[["Pr(>F)"]], row.names = NULL)
}

contrast_rows <- function(fit, contrast, by, mode) {
  if (is.null(contrast)) return(list())
  tidy <- function(s, label) {
    data.frame(contrast = label, estimate = s$estimate, se = s$SE, df = s$df,
               t = s$t.ratio, p = s$p.value, ci_low = s$lower.CL, ci_high = s$upper.CL)
  }
  if (is.null(by)) {
    emm <- suppressMessages(emmeans(fit, as.formula(paste("~", contrast)), lmer.df = mode))
    s <- summary(contrast(emm, "trt.vs.ctrl", adjust = "none"), infer = c(TRUE, TRUE))
    return(tidy(s, as.character(s$contrast)))
  }
  emm <- suppressMessages(emmeans(fit, as.formula(paste("~", contrast, "|", by)), lmer.df = mode))
  s <- summary(contrast(emm, "trt.vs.ctrl", adjust = "none"), infer = c(TRUE, TRUE))
  simple <- tidy(s, paste(s$contrast, "|", s[[by]]))
  emm2 <- suppressMessages(emmeans(fit, as.formula(paste("~", contrast, "*", by)), lmer.df = mode))
  s <- summary(contrast(emm2, interaction = c("trt.vs.ctrl", "trt.vs.ctrl"), adjust = "none"),
               infer = c(TRUE, TRUE))
  labels <- paste(s[[paste0(contrast, "_trt.vs.ctrl")]], "|", s[[paste0(by, "_trt.vs.ctrl")]])
  rbind(simple, tidy(s, labels))
}

random_part <- function(group, re) {
  groups <- strsplit(group, "/", fixed = TRUE)[[1]]
  slope <- if (is.null(re)) "1" else paste("1 +", sub("^\\s*~", "", re))
  parts <- vapply(seq_along(groups), function(i) {
    sprintf("(%s | %s)", if (i == 1) slope else "1", paste(groups[1:i], collapse = ":"))
  }, "")
  paste(parts, collapse = " + ")
}

reference <- function(name, data_name, data, formula, group, re = NULL, levels = NULL,
                      contrast = NULL, by = NULL) {
  for (factor in names(levels)) data[[factor]] <- factor(data[[factor]], levels = levels[[factor]])
  full <- as.formula(paste(formula, "+", random_part(group, re)))
  fit <- lmer(full, data = data, REML = TRUE, control = tight)
  devfun <- update(fit, devFunOnly = TRUE)
  theta <- getME(fit, "theta")
  for (step in 1:3) {
    theta <- theta - solve(numDeriv::hessian(devfun, theta), numDeriv::grad(devfun, theta))
  }
  fit <- lmer(full, data = data, REML = TRUE, start = list(theta = theta),
              control = lmerControl(optimizer = NULL))
  if (isSingular(fit)) stop(name, ": singular fit; pick another seed")
  sat <- summary(fit)$coefficients
  kr <- summary(fit, ddf = "Kenward-Roger")$coefficients
  vc <- as.data.frame(VarCorr(fit))
  result <- list(
    args = list(data = data_name, formula = formula, group = group, re = re,
                levels = levels, contrast = contrast, by = by),
    versions = versions,
    call = deparse1(full),
    theta = unname(getME(fit, "theta")),
    loglik_reml = as.numeric(logLik(fit)),
    n_obs = nobs(fit),
    n_groups = as.list(ngrps(fit)),
    fixed = coef_rows(sat),
    anova = anova_rows(anova(fit, type = 3)),
    random = data.frame(group = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov,
                        sdcor = vc$sdcor),
    contrasts = contrast_rows(fit, contrast, by, "satterthwaite"),
    kenward_roger = list(
      fixed = coef_rows(kr),
      anova = anova_rows(anova(fit, type = 3, ddf = "Kenward-Roger")),
      contrasts = contrast_rows(fit, contrast, by, "kenward-roger")
    )
  )
  write_json(result, file.path(out, paste0(name, ".json")), digits = NA, auto_unbox = TRUE,
             null = "null", na = "null", pretty = TRUE)
}

# lme4's sleepstudy; cohort is an arbitrary between-subject split to test a
# numeric x factor interaction.
sleep <- lme4::sleepstudy
sleep$Subject <- as.character(sleep$Subject)
sleep$cohort <- ifelse(sleep$Subject %in% sort(unique(sleep$Subject))[c(TRUE, FALSE)], "A", "B")
sleep <- write_data("sleepstudy", sleep)
reference("sleepstudy_intercept", "sleepstudy", sleep, "Reaction ~ Days", "Subject")
reference("sleepstudy_slope", "sleepstudy", sleep, "Reaction ~ Days", "Subject", re = "~ Days")
reference("sleepstudy_days_by_cohort", "sleepstudy", sleep, "Reaction ~ Days * cohort",
          "Subject", re = "~ Days", contrast = "cohort")

# A split-body trial: every patient has a real and a sham side, measured at T0-T3.
# Seed fixed so the fixture is reproducible; 6 visits dropped make it unbalanced.
set.seed(20240611)
trial <- expand.grid(time = paste0("T", 0:3), arm = c("sham", "real"),
                     patient = sprintf("P%02d", 1:22), stringsAsFactors = FALSE)
patient_effect <- setNames(rnorm(22, 0, 8), sprintf("P%02d", 1:22))
side_effect <- rnorm(nrow(unique(trial[c("patient", "arm")])), 0, 3)
names(side_effect) <- unique(paste(trial$patient, trial$arm))
gain <- c(T0 = 0, T1 = 2, T2 = 3, T3 = 3)
extra <- c(T0 = 0, T1 = 2, T2 = 4, T3 = 5)
trial$value <- round(50 + patient_effect[trial$patient] + side_effect[paste(trial$patient, trial$arm)] +
  gain[trial$time] + ifelse(trial$arm == "real", extra[trial$time], 0) + rnorm(nrow(trial), 0, 5), 2)
trial <- trial[-sample(nrow(trial), 6), c("patient", "arm", "time", "value")]
trial <- write_data("trial", trial)
arm_levels <- list(arm = c("sham", "real"))
reference("trial_arm_by_time", "trial", trial, "value ~ arm * time", "patient",
          levels = arm_levels, contrast = "arm", by = "time")
reference("trial_patient_arm", "trial", trial, "value ~ arm * time", "patient/arm",
          levels = arm_levels, contrast = "arm", by = "time")
reference("trial_arm_slope", "trial", trial, "value ~ arm * time", "patient", re = "~ arm",
          levels = arm_levels, contrast = "arm")
reference("trial_time_only", "trial", trial, "value ~ time", "patient", contrast = "time")

# lmerTest's type 3 quirks: a factor (or numeric) coded by indicators in an interaction
# does not make the interaction "contain" the lower term. Plus a 3-level factor with a
# covariate. Seed fixed for the made-up site and age.
set.seed(3)
extra <- transform(trial, tnum = as.numeric(sub("T", "", time)),
                   age = round(rnorm(nrow(trial), 50, 10)),
                   site = sample(c("a", "b", "c"), nrow(trial), replace = TRUE))
extra <- write_data("trial_covariates", extra)
reference("trial_arm_nesting_time", "trial_covariates", extra, "value ~ arm + arm:time",
          "patient", levels = arm_levels, contrast = "arm")
reference("trial_slope_by_arm", "trial_covariates", extra, "value ~ tnum + tnum:arm", "patient",
          levels = arm_levels)
reference("trial_site_by_time_age", "trial_covariates", extra, "value ~ site * time + age",
          "patient", contrast = "site")

# The recommended analysis: change from T0 at T1-T3, adjusted for the baseline value.
base <- trial[trial$time == "T0", c("patient", "arm", "value")]
names(base)[3] <- "baseline"
change <- merge(trial[trial$time != "T0", ], base, by = c("patient", "arm"))
change$change <- change$value - change$baseline
change <- change[order(change$patient, change$arm, change$time),
                 c("patient", "arm", "time", "baseline", "change")]
change <- write_data("trial_change", change)
reference("trial_change_from_baseline", "trial_change", change,
          "change ~ arm * time + baseline", "patient", levels = arm_levels, contrast = "arm",
          by = "time")

# A small patient variance: from lme4's start, a gradient method lands on theta = 0,
# where the gradient vanishes although the deviance falls away from it. Seed 18 is one
# that does this to L-BFGS-B.
set.seed(18)
small <- expand.grid(time = paste0("T", 0:2), arm = c("sham", "real"),
                     patient = sprintf("P%d", 1:6), stringsAsFactors = FALSE)
small_effect <- rnorm(6, 0, 0.4)
small$value <- round(10 + small_effect[as.integer(sub("P", "", small$patient))] +
  rnorm(nrow(small)), 3)
small <- write_data("small_variance", small)
reference("small_patient_variance", "small_variance", small, "value ~ arm * time", "patient",
          levels = arm_levels, contrast = "arm", by = "time")

# Oocytes injected with each patient's real- or sham-side muscle membranes; each oocyte
# recorded 2-4 times. Oocyte labels repeat across patients, so oocyte is nested.
set.seed(7)
rows <- list()
for (i in 1:15) {
  patient <- sprintf("P%02d", i)
  p_eff <- rnorm(1, 0, 40)
  number <- 0
  for (arm in c("sham", "real")) {
    side <- rnorm(1, 0, 15)
    for (k in seq_len(sample(5:10, 1))) {
      number <- number + 1
      o_eff <- rnorm(1, 0, 25)
      m <- sample(2:4, 1)
      rows[[length(rows) + 1]] <- data.frame(
        patient = patient, arm = arm, oocyte = sprintf("O%02d", number),
        current = round(-200 + p_eff + side + o_eff + (arm == "real") * -30 + rnorm(m, 0, 15), 1)
      )
    }
  }
}
oocytes <- write_data("oocytes", do.call(rbind, rows))
reference("oocytes_nested", "oocytes", oocytes, "current ~ arm", "patient/oocyte",
          levels = arm_levels, contrast = "arm")
reference("oocytes_nested_slope", "oocytes", oocytes, "current ~ arm", "patient/oocyte",
          re = "~ arm", levels = arm_levels, contrast = "arm")
