# Reference values for nmmstrial.analysis.rm_anova: afex::aov_ez (car::Anova underneath).
#
# Run from the repository root:  Rscript tests/analysis/reference/rm_anova.R
# Writes rm_anova/<case>.csv (the data, read back before fitting so R and Python see the
# same numbers) and rm_anova/<case>.json (arguments, versions and one row per effect,
# full precision). Epsilons, corrected p and Mauchly come from summary(fit$Anova), not
# from the rounded nice() table; ges and pes from afex's anova_table.

suppressPackageStartupMessages({
  library(afex)
  library(jsonlite)
})

out <- file.path("tests", "analysis", "reference", "rm_anova")
dir.create(out, showWarnings = FALSE, recursive = TRUE)

versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  afex = as.character(packageVersion("afex")),
  car = as.character(packageVersion("car"))
)

reference <- function(name, data, dv, id, within, between = character(0), type = 3,
                      listwise = FALSE) {
  csv <- file.path(out, paste0(name, ".csv"))
  write.csv(data, csv, row.names = FALSE)
  data <- read.csv(csv)
  # afex drops subjects with a missing cell and warns; the fixture records who went.
  fit <- withCallingHandlers(
    suppressMessages(aov_ez(
      id, dv, data,
      within = within, between = if (length(between)) between else NULL, type = type,
      anova_table = list(es = c("ges", "pes"), correction = "none")
    )),
    warning = function(w) {
      if (listwise && grepl("Missing values", conditionMessage(w))) invokeRestart("muffleWarning")
    }
  )
  # car warns when an error SSP matrix is singular (no corrections then) or HF eps > 1
  # (reported uncapped; its p uses min(1, eps)).
  s <- suppressWarnings(summary(fit$Anova, multivariate = FALSE))
  uni <- s$univariate.tests
  sph <- s$sphericity.tests
  adj <- s$pval.adjustments
  tab <- fit$anova_table
  rows <- lapply(rownames(tab), function(effect) {
    has_within <- any(strsplit(effect, ":", fixed = TRUE)[[1]] %in% within)
    # Rows in car's Mauchly table have >1 within df and a non-singular error SSP matrix.
    corrected <- effect %in% rownames(sph)
    singular <- isTRUE(fit$Anova$singular[effect])
    # One within df: car gives no corrections; the contract says eps = 1, corrected p = p.
    one_df <- has_within && !corrected && !singular
    p <- uni[effect, "Pr(>F)"]
    list(
      effect = effect,
      F = uni[effect, "F value"],
      df1 = uni[effect, "num Df"],
      df2 = uni[effect, "den Df"],
      p = p,
      eps_gg = if (corrected) adj[effect, "GG eps"] else if (one_df) 1 else NA,
      p_gg = if (corrected) adj[effect, "Pr(>F[GG])"] else if (one_df) p else NA,
      eps_hf = if (corrected) adj[effect, "HF eps"] else if (one_df) 1 else NA,
      p_hf = if (corrected) adj[effect, "Pr(>F[HF])"] else if (one_df) p else NA,
      mauchly_w = if (corrected) sph[effect, "Test statistic"] else NA,
      mauchly_p = if (corrected) sph[effect, "p-value"] else NA,
      ges = tab[effect, "ges"],
      pes = tab[effect, "pes"]
    )
  })
  excluded <- attr(fit, "incomplete_cases")
  result <- list(
    versions = versions,
    args = list(
      dv = dv, subject = id, within = I(within), between = I(between),
      type = type, listwise = listwise
    ),
    n_subjects = nrow(fit$data$wide),
    excluded_subjects = I(if (is.null(excluded)) character(0) else as.character(excluded)),
    effects = rows
  )
  write_json(result, file.path(out, paste0(name, ".json")),
    auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE
  )
}

# afex's obk.long: between treatment (3) x gender (2), unbalanced (2-4 per cell); within
# phase (3) x hour (5). Type 3 and type 2 differ here.
data(obk.long, package = "afex")
obk <- obk.long[, c("id", "treatment", "gender", "phase", "hour", "value")]
reference("obk_type3", obk, "value", "id", c("phase", "hour"), c("treatment", "gender"))
reference("obk_type2", obk, "value", "id", c("phase", "hour"), c("treatment", "gender"), type = 2)

# One within factor, mixed: the first hour only, between treatment.
obk_hour1 <- obk[obk$hour == 1, c("id", "treatment", "phase", "value")]
reference("obk_hour1_phase_by_treatment", obk_hour1, "value", "id", "phase", "treatment")

# lme4's sleepstudy: one within factor with 10 levels (9 df), 18 subjects, no between.
data(sleepstudy, package = "lme4")
reference("sleepstudy_days", sleepstudy, "Reaction", "Subject", "Days")

# Six subjects for 9 within df: the error SSP matrix is singular, so car gives no
# epsilons or Mauchly test (null), while F and p stand.
few <- sleepstudy[sleepstudy$Subject %in% levels(sleepstudy$Subject)[1:6], ]
reference("sleepstudy_six_subjects_singular", few, "Reaction", "Subject", "Days")

# Trial-shaped: 22 patients, arm (sham, real) x time (T0-T3) within, a patient effect
# shared by both sides and AR(1) noise whose SD grows over time (non-spherical).
# Seed fixed so the fixture is reproducible; values rounded so the CSV is exact.
set.seed(20240611)
trial_data <- function(n, between = NULL) {
  times <- paste0("T", 0:3)
  sds <- c(2, 3, 5, 8)
  chol_sigma <- chol(outer(1:4, 1:4, function(i, j) 0.8^abs(i - j)) * outer(sds, sds))
  rows <- list()
  for (i in seq_len(n)) {
    patient <- sprintf("P%02d", i)
    u <- rnorm(1, 0, 4)
    for (arm in c("sham", "real")) {
      gain <- if (arm == "real") c(0, 1, 2.5, 4) else c(0, 0.5, 1, 1)
      noise <- drop(rnorm(4) %*% chol_sigma)
      rows[[length(rows) + 1]] <- data.frame(
        patient = patient, arm = arm, time = times,
        value = round(30 + u + gain + noise, 3)
      )
    }
  }
  do.call(rbind, rows)
}
trial <- trial_data(22)
reference("trial_arm_by_time", trial, "value", "patient", c("arm", "time"))

# Two patients miss one visit on one side: listwise drops them (as afex does).
incomplete <- trial[!(trial$patient == "P05" & trial$arm == "real" & trial$time == "T2") &
  !(trial$patient == "P17" & trial$arm == "sham" & trial$time == "T3"), ]
reference("trial_incomplete_listwise", incomplete, "value", "patient", c("arm", "time"),
  listwise = TRUE
)

# Unbalanced between groups: site (3) x sex (2) with 2 to 6 patients per cell, within time
# (T0-T3) on one side only. Type 2 and type 3 sums of squares differ.
sizes <- expand.grid(sex = c("F", "M"), site = c("A", "B", "C"), stringsAsFactors = FALSE)
sizes$n <- c(3, 5, 6, 2, 4, 4)
groups <- sizes[rep(seq_len(nrow(sizes)), sizes$n), c("site", "sex")]
one_side <- trial_data(nrow(groups))
one_side <- one_side[one_side$arm == "real", c("patient", "time", "value")]
one_side <- cbind(groups[match(one_side$patient, sprintf("P%02d", seq_len(nrow(groups)))), ], one_side)
site_shift <- c(A = 0, B = 3, C = -2)[one_side$site] * (one_side$time != "T0")
one_side$value <- round(one_side$value + site_shift + 2 * (one_side$sex == "M"), 3)
one_side <- one_side[, c("patient", "site", "sex", "time", "value")]
reference("unbalanced_site_sex_type3", one_side, "value", "patient", "time", c("site", "sex"))
reference("unbalanced_site_sex_type2", one_side, "value", "patient", "time", c("site", "sex"),
  type = 2
)

# Compound symmetry (a patient effect plus independent noise), 12 patients x 4 visits:
# Huynh-Feldt epsilon comes out above 1; it is reported uncapped, p_hf uses min(1, eps).
# Seed 5 chosen because it gives eps_hf > 1 (checked below).
set.seed(5)
spherical <- expand.grid(time = paste0("T", 0:3), patient = sprintf("P%02d", 1:12),
  stringsAsFactors = FALSE
)[, c("patient", "time")]
spherical$value <- round(
  10 + rnorm(12, 0, 2)[as.integer(factor(spherical$patient))] + rnorm(nrow(spherical)), 3
)
reference("spherical_hf_above_one", spherical, "value", "patient", "time")
stopifnot(fromJSON(file.path(out, "spherical_hf_above_one.json"))$effects$eps_hf > 1)
