# Reference results for nmmstrial.analysis.{nonparametric,parametric,posthoc,multiplicity}.
#
# Run from the repository root:  Rscript tests/analysis/reference/tests_and_posthoc.R
# Writes tests/analysis/reference/tests/<name>.csv (the data) and <name>.json (R's results).
# Each data set is written first and read back, so R computes on exactly the doubles
# Python reads. Packages: stats, exactRankTests, coin, effectsize, afex, emmeans, jsonlite.

suppressPackageStartupMessages({
  library(exactRankTests)
  library(coin)
  library(effectsize)
  library(afex)
  library(emmeans)
  library(jsonlite)
})

out_dir <- file.path("tests", "analysis", "reference", "tests")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

versions <- function() {
  pk <- c("exactRankTests", "coin", "effectsize", "afex", "emmeans", "jsonlite")
  c(list(R = paste(R.version$major, R.version$minor, sep = ".")),
    setNames(lapply(pk, function(p) as.character(packageVersion(p))), pk))
}

write_result <- function(name, result) {
  result$versions <- versions()
  write_json(result, file.path(out_dir, paste0(name, ".json")),
             digits = NA, auto_unbox = TRUE, na = "null", null = "null", pretty = TRUE)
}

round_trip <- function(name, frame) {
  path <- file.path(out_dir, paste0(name, ".csv"))
  write.csv(frame, path, row.names = FALSE)
  read.csv(path, stringsAsFactors = FALSE)
}

# Sorted as nmmstrial sorts levels (C locale), whatever R's locale.
c_factor <- function(x) factor(x, levels = sort(unique(x), method = "radix"))

htest <- function(h) {
  list(statistic = unname(h$statistic), p = h$p.value, method = h$method,
       df = if (is.null(h$parameter)) NULL else unname(h$parameter),
       estimate = if (is.null(h$estimate)) NULL else unname(h$estimate),
       ci = if (is.null(h$conf.int)) NULL else as.numeric(h$conf.int))
}

# t.test's two-sample estimate is (mean x, mean y); nmmstrial reports mean x - mean y.
difference <- function(h) {
  h$estimate <- h$estimate[1] - h$estimate[2]
  h
}

quietly <- function(expr) suppressWarnings(suppressMessages(expr))

walsh_median <- function(d) {
  w <- outer(d, d, "+") / 2
  median(w[upper.tri(w, diag = TRUE)])
}

effect <- function(e) list(value = e[[1]], ci = c(e$CI_low, e$CI_high))

# effectsize 0.8.3's Hedges' g interval (.effect_size_difference) finds the
# noncentrality parameters with optim (abstol 1e-9 on the p values), good to about
# 1e-6; the same formula with the roots found by uniroot to 1e-13 is the reference
# nmmstrial must match to 1e-6, effectsize's own interval is kept beside it.
g_interval_exact <- function(t, df, hn) {
  j <- exp(lgamma(df / 2) - log(sqrt(df / 2)) - lgamma((df - 1) / 2))
  ncp <- sapply(c(0.975, 0.025), function(p) {
    uniroot(function(ncp) pt(t, df, ncp) - p, c(t - 1, t + 1), extendInt = "yes",
            tol = 1e-13)$root
  })
  ncp * sqrt(hn) * j
}

g_paired <- function(x, y) {
  d <- x - y
  n <- length(d)
  c(effect(hedges_g(x, y, paired = TRUE, verbose = FALSE)),
    ci_exact_roots = list(g_interval_exact(mean(d) / (sd(d) / sqrt(n)), n - 1, 1 / n)))
}

g_two_sample <- function(x, y) {
  n1 <- length(x)
  n2 <- length(y)
  s <- sqrt((sum((x - mean(x))^2) + sum((y - mean(y))^2)) / (n1 + n2 - 2))
  hn <- 1 / n1 + 1 / n2
  c(effect(hedges_g(x, y, verbose = FALSE)),
    ci_exact_roots = list(g_interval_exact((mean(x) - mean(y)) / (s * sqrt(hn)), n1 + n2 - 2, hn)))
}

paired_reference <- function(name, x, y) {
  data <- round_trip(name, data.frame(x = x, y = y))
  x <- data$x
  y <- data$y
  d <- x - y
  nz <- d[d != 0]
  ties <- length(unique(rank(abs(nz)))) != length(nz)
  zeros <- any(d == 0)
  exact <- if (!ties && !zeros) {
    c(htest(wilcox.test(x, y, paired = TRUE, exact = TRUE, conf.int = TRUE)),
      source = "stats::wilcox.test(exact = TRUE, conf.int = TRUE)")
  } else {
    c(htest(wilcox.exact(x, y, paired = TRUE, exact = TRUE)),
      source = "exactRankTests::wilcox.exact(paired = TRUE, exact = TRUE)")
  }
  coin_p <- pvalue(wilcoxsign_test(x ~ y, distribution = "exact", zero.method = "Wilcoxon"))
  rb_d <- rank_biserial(d, verbose = FALSE)
  rb_xy <- rank_biserial(x, y, paired = TRUE, verbose = FALSE)
  write_result(name, list(
    n = length(d), zeros = sum(d == 0), ties = ties,
    wilcoxon = list(
      default = htest(quietly(wilcox.test(x, y, paired = TRUE))),
      approx = htest(wilcox.test(x, y, paired = TRUE, exact = FALSE)),
      approx_no_continuity = htest(wilcox.test(x, y, paired = TRUE, exact = FALSE, correct = FALSE)),
      exact = exact,
      coin_exact_p = as.numeric(coin_p)
    ),
    hodges_lehmann = walsh_median(d),
    rank_biserial = effect(rb_d),
    rank_biserial_xy = effect(rb_xy),
    t = htest(t.test(x, y, paired = TRUE)),
    hedges_g = g_paired(x, y)
  ))
}

two_sample_reference <- function(name, x, y, labels = c("a", "b")) {
  data <- round_trip(name, data.frame(
    value = c(x, y), group = rep(labels, c(length(x), length(y)))
  ))
  x <- data$value[data$group == labels[1]]
  y <- data$value[data$group == labels[2]]
  ties <- length(unique(c(x, y))) != length(c(x, y))
  exact <- if (!ties) {
    c(htest(wilcox.test(x, y, exact = TRUE, conf.int = TRUE)),
      source = "stats::wilcox.test(exact = TRUE, conf.int = TRUE)")
  } else {
    c(htest(wilcox.exact(x, y, exact = TRUE)),
      source = "exactRankTests::wilcox.exact(exact = TRUE)")
  }
  g <- factor(rep(c("x", "y"), c(length(x), length(y))))
  coin_p <- pvalue(wilcox_test(c(x, y) ~ g, distribution = "exact"))
  write_result(name, list(
    levels = labels, n_x = length(x), n_y = length(y), ties = ties,
    wilcoxon = list(
      default = htest(quietly(wilcox.test(x, y))),
      approx = htest(wilcox.test(x, y, exact = FALSE)),
      approx_no_continuity = htest(wilcox.test(x, y, exact = FALSE, correct = FALSE)),
      exact = exact,
      coin_exact_p = as.numeric(coin_p)
    ),
    hodges_lehmann = median(outer(x, y, "-")),
    rank_biserial = effect(rank_biserial(x, y, verbose = FALSE)),
    welch = difference(htest(t.test(x, y))),
    student = difference(htest(t.test(x, y, var.equal = TRUE))),
    hedges_g = g_two_sample(x, y)
  ))
}

## Paired ----------------------------------------------------------------------

# R's own wilcox.test example (Hollander & Wolfe): no ties, no zeros, exact by default.
paired_reference("paired_depression_no_ties",
  x = c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30),
  y = c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29))

# Student's sleep data: one zero difference and two tied |d| (1.3).
paired_reference("paired_sleep_zero_and_ties",
  x = sleep$extra[sleep$group == 2], y = sleep$extra[sleep$group == 1])

# Trial-shaped: 7 patients, fold change from T0 at T3 on the real and the sham side.
paired_reference("paired_trial_fold_change_ties",
  x = c(1.50, 1.25, 1.75, 0.875, 1.625, 1.375, 1.125),
  y = c(1.00, 1.125, 1.25, 1.00, 1.125, 1.25, 1.25))

# iris: 150 pairs with many ties; the default falls back to the normal approximation.
paired_reference("paired_iris_n150_ties",
  x = iris$Sepal.Length, y = iris$Petal.Length)

# 60 pairs without ties: the default is the normal approximation (n >= 50).
set.seed(20240601)  # fixed so the file is reproducible
paired_reference("paired_n60_no_ties",
  x = round(rnorm(60, 0.3), 6), y = round(rnorm(60), 6))

## Two samples -----------------------------------------------------------------

# R's own wilcox.test example: no ties, exact by default.
two_sample_reference("two_sample_wilcox_help_no_ties",
  x = c(0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46),
  y = c(1.15, 0.88, 0.90, 0.74, 1.21), labels = c("a", "b"))

# mtcars mpg by transmission: 19 automatic vs 13 manual, ties.
two_sample_reference("two_sample_mtcars_mpg_ties",
  x = mtcars$mpg[mtcars$am == 0], y = mtcars$mpg[mtcars$am == 1],
  labels = c("automatic", "manual"))

# ToothGrowth len by supplement: 30 vs 30, many ties.
two_sample_reference("two_sample_toothgrowth_ties",
  x = ToothGrowth$len[ToothGrowth$supp == "OJ"], y = ToothGrowth$len[ToothGrowth$supp == "VC"],
  labels = c("OJ", "VC"))

# airquality Ozone, May vs August, missing values removed; unequal sizes.
two_sample_reference("two_sample_airquality_ozone_unequal",
  x = na.omit(airquality$Ozone[airquality$Month == 5]),
  y = na.omit(airquality$Ozone[airquality$Month == 8]),
  labels = c("May", "August"))

# 55 vs 52 without ties: the default is the normal approximation (n >= 50).
set.seed(20240602)  # fixed so the file is reproducible
two_sample_reference("two_sample_n55_no_ties",
  x = round(rnorm(55, 0.4), 6), y = round(rnorm(52), 6), labels = c("a", "b"))

# Trial-shaped: baseline CMAP amplitude (mV), 7 real vs 7 sham patients, no ties.
two_sample_reference("two_sample_trial_baseline",
  x = c(4.1, 5.3, 3.8, 6.0, 4.7, 5.1, 3.9), y = c(4.4, 5.8, 4.0, 6.3, 5.5, 4.9, 5.2),
  labels = c("real", "sham"))

## Post hoc --------------------------------------------------------------------

emm_rows <- function(fit, model, method) {
  # quietly: lm's "essentially perfect fit" when a level is constant (fold change 1 at T0)
  em <- quietly(emmeans(fit, ~ time, model = model))
  s <- as.data.frame(quietly(summary(contrast(em, method = method, adjust = "none"),
                                     infer = c(TRUE, TRUE))))
  p <- s$p.value
  data.frame(contrast = as.character(s$contrast), estimate = s$estimate, se = s$SE,
             df = s$df, statistic = s$t.ratio, ci_low = s$lower.CL, ci_high = s$upper.CL,
             p = p, p_holm = p.adjust(p, "holm"), p_bonferroni = p.adjust(p, "bonferroni"),
             p_hochberg = p.adjust(p, "hochberg"), p_bh = p.adjust(p, "BH"))
}

wilcoxon_rows <- function(wide, pairs, exact) {
  rows <- lapply(pairs, function(ab) {
    x <- wide[[ab[1]]]
    y <- wide[[ab[2]]]
    d <- x - y
    nz <- d[d != 0]
    plain <- length(unique(rank(abs(nz)))) == length(nz) && all(d != 0)
    h <- if (is.null(exact)) quietly(wilcox.test(x, y, paired = TRUE))
         else if (plain) wilcox.test(x, y, paired = TRUE, exact = TRUE)
         else wilcox.exact(x, y, paired = TRUE, exact = TRUE)
    data.frame(contrast = paste(ab[1], "-", ab[2]), statistic = unname(h$statistic),
               p = min(1, h$p.value), method = h$method, hodges_lehmann = walsh_median(d))
  })
  out <- do.call(rbind, rows)
  p <- out$p
  cbind(out, p_holm = p.adjust(p, "holm"), p_bonferroni = p.adjust(p, "bonferroni"),
        p_hochberg = p.adjust(p, "hochberg"), p_bh = p.adjust(p, "BH"))
}

posthoc_reference <- function(name, long) {
  data <- round_trip(name, long)
  fit <- quietly(aov_ez(id = "subject", dv = "value", data = data, within = "time",
                       include_aov = TRUE))
  complete <- as.character(unique(fit$data$long$subject))
  excluded <- setdiff(sort(unique(as.character(data$subject))), complete)
  kept <- data[as.character(data$subject) %in% complete, ]
  lv <- sort(unique(kept$time), method = "radix")
  wide <- lapply(setNames(lv, lv), function(l) {
    rows <- kept[kept$time == l, ]
    rows$value[order(as.character(rows$subject))]
  })
  ref_pairs <- lapply(lv[-1], function(l) c(l, lv[1]))
  all_pairs <- unlist(lapply(seq_along(lv)[-1], function(j)
    lapply(seq_len(j - 1), function(i) c(lv[j], lv[i]))), recursive = FALSE)
  write_result(name, list(
    levels = I(lv), n_subjects = length(complete), excluded_subjects = I(excluded),
    t_ref = emm_rows(fit, "multivariate", "trt.vs.ctrl"),
    t_all = emm_rows(fit, "multivariate", "revpairwise"),
    pooled_ref = emm_rows(fit, "univariate", "trt.vs.ctrl"),
    pooled_all = emm_rows(fit, "univariate", "revpairwise"),
    wilcoxon_ref = wilcoxon_rows(wide, ref_pairs, exact = NULL),
    wilcoxon_ref_exact = wilcoxon_rows(wide, ref_pairs, exact = TRUE),
    wilcoxon_all = wilcoxon_rows(wide, all_pairs, exact = NULL)
  ))
}

# Trial-shaped: fold change from T0 of 7 patients on the real side, T0..T3 (T0 is 1).
trial <- data.frame(
  subject = rep(sprintf("P%02d", 1:7), each = 4),
  time = rep(c("T0", "T1", "T2", "T3"), times = 7),
  value = c(1, 1.12, 1.31, 1.48,
            1, 0.97, 1.18, 1.22,
            1, 1.25, 1.27, 1.63,
            1, 1.04, 0.93, 1.02,
            1, 1.16, 1.44, 1.57,
            1, 1.09, 1.21, 1.35,
            1, 0.99, 1.08, 1.19))
posthoc_reference("posthoc_trial_fold_change", trial)

# The same with patient P04 missing T2: afex (and --listwise) drop P04.
posthoc_reference("posthoc_trial_incomplete_listwise",
                  trial[!(trial$subject == "P04" & trial$time == "T2"), ])

# afex's obk.long, averaged over hour: 16 subjects x phase (fup, post, pre).
obk <- aggregate(value ~ id + phase, data = obk.long, FUN = mean)
posthoc_reference("posthoc_obk_phase", data.frame(
  subject = sprintf("S%02d", as.integer(as.character(obk$id))),
  time = as.character(obk$phase), value = obk$value))

## Multiplicity ----------------------------------------------------------------

adjust_case <- function(p) {
  list(p = I(p), bonferroni = I(p.adjust(p, "bonferroni")), holm = I(p.adjust(p, "holm")),
       hochberg = I(p.adjust(p, "hochberg")), bh = I(p.adjust(p, "BH")))
}
write_result("p_adjust", list(cases = list(
  adjust_case(c(0.01, 0.02, 0.03, 0.04, 0.05)),
  adjust_case(c(0.041, 0.003, 0.2, 0.003, 0.9, 0.012, 0.05)),
  adjust_case(c(0.04, NA, 0.001, 0.3, NA, 0.02)),
  adjust_case(c(0.5, 0.0001, 1, 0, 0.049, 0.051, 0.7, 0.2)),
  adjust_case(c(0.03)),
  adjust_case(c(NA, 0.2)),
  adjust_case(p.adjust(seq(0.001, 0.3, length.out = 12), "none"))
)))
