# Reference for nmmstrial.assays.qpcr.compare_arms: the split-body tests in base R.
# Run from the repository root:
#   Rscript tests/assays/reference/qpcr_compare.R
# Reads tests/assays/data/qpcr/split_body_7_patients_arm_one_undetermined.csv and writes
# tests/assays/reference/qpcr_compare.json. Undetermined wells are excluded; dCt =
# mean Ct(gene) - mean Ct(reference) per patient and arm; ddCt = dCt(real) - dCt(sham).
library(jsonlite)

wells <- read.csv("tests/assays/data/qpcr/split_body_7_patients_arm_one_undetermined.csv",
                  colClasses = "character")
wells$ct <- suppressWarnings(as.numeric(wells$ct))  # "Undetermined" -> NA, then excluded
wells <- wells[!is.na(wells$ct), ]
means <- aggregate(ct ~ patient + arm + target, data = wells, FUN = mean)
ct_of <- function(arm, target) {
  m <- means[means$arm == arm & means$target == target, ]
  setNames(m$ct, m$patient)
}
references <- list(MYOD1 = "GAPDH", MSTN = "GAPDH", "miR-1" = "U6")
out <- list()
for (gene in names(references)) {
  ref <- references[[gene]]
  real <- ct_of("real", gene) - ct_of("real", ref)[names(ct_of("real", gene))]
  sham <- ct_of("sham", gene) - ct_of("sham", ref)[names(ct_of("sham", gene))]
  patients <- sort(intersect(names(real), names(sham)))
  x <- real[patients]
  y <- sham[patients]
  ddct <- x - y
  w <- wilcox.test(x, y, paired = TRUE, exact = TRUE)
  t <- t.test(x, y, paired = TRUE)
  folds <- 2^-ddct
  out[[gene]] <- list(
    reference = ref,
    n = length(ddct),
    mean_ddct = mean(ddct),
    geomean_fold = 2^-mean(ddct),
    ci_low = 2^-t$conf.int[2],
    ci_high = 2^-t$conf.int[1],
    wilcoxon_v = unname(w$statistic),
    wilcoxon_p = w$p.value,
    t = unname(t$statistic),
    df = unname(t$parameter),
    t_p = t$p.value,
    mean_fold = mean(folds),
    sem_fold = sd(folds) / sqrt(length(folds)),
    ddct = as.list(ddct)
  )
}
out[["_about"]] <- paste(R.version.string, "wilcox.test(paired = TRUE, exact = TRUE),",
                         "t.test(paired = TRUE)")
write_json(out, "tests/assays/reference/qpcr_compare.json", auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
