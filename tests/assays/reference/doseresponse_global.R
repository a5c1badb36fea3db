# Global LL.4 fit of S.alba (white mustard dry matter) with shared slope and plateaus and one
# EC50 per herbicide, against one curve for both: R's nls + anova (extra-sum-of-squares F).
# Run from the repository root: Rscript tests/assays/reference/doseresponse_global.R
# Writes tests/assays/reference/doseresponse_global.json.
alba <- read.csv("tests/assays/data/dose_response/drc_S.alba.csv")
alba$arm <- factor(alba$Herbicide, levels = c("Bentazone", "Glyphosate"))
one <- nls(DryMatter ~ c + (d - c) / (1 + exp(b * (log(Dose) - le))), data = alba,
           start = list(b = 3, c = 0.7, d = 3.8, le = log(40)), algorithm = "port")
two <- nls(DryMatter ~ c + (d - c) / (1 + exp(b * (log(Dose) - le[arm]))), data = alba,
           start = list(b = 3, c = 0.7, d = 3.8, le = log(c(30, 60))), algorithm = "port")
test <- anova(one, two)
co <- coef(two)
num <- function(v) formatC(v, digits = 10, format = "g")
writeLines(c(
  "{",
  sprintf('  "b": %s, "c": %s, "d": %s,', num(co["b"]), num(co["c"]), num(co["d"])),
  sprintf('  "ec50": {"Bentazone": %s, "Glyphosate": %s},', num(exp(co["le1"])), num(exp(co["le2"]))),
  sprintf('  "rss_shared_ec50": %s, "rss_arm_ec50": %s,', num(deviance(one)), num(deviance(two))),
  sprintf('  "f": %s, "df1": %d, "df2": %d, "p": %s', num(test$`F value`[2]), test$Df[2],
          test$`Res.Df`[2], num(test$`Pr(>F)`[2])),
  "}"
), "tests/assays/reference/doseresponse_global.json")
