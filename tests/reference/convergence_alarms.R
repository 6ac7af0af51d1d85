# Fits on which lme4 raises convergence warnings: random slopes on a predictor of
# scale 0-100, 10,000 rows, 200 groups. Writes the data (gzipped CSV) and lme4's results
# to tests/reference/convergence_alarms.json. Run from the repository root:
#   Rscript tests/reference/convergence_alarms.R
suppressMessages({library(lme4); library(jsonlite)})
set.seed(1)
out <- list()
for (trial in 1:4) {
  n_g <- 200; n_per <- 50
  g <- factor(rep(seq_len(n_g), each = n_per))
  x <- runif(n_g * n_per, 0, 100)
  b0 <- rnorm(n_g, 0, 2); b1 <- rnorm(n_g, 0, 0.05)
  y <- 10 + 0.3 * x + b0[g] + b1[g] * x + rnorm(n_g * n_per, 0, 3)
  if (trial == 1) next
  d <- data.frame(y = signif(y, 15), x = signif(x, 15), g)
  file <- sprintf("tests/reference/data/alarm_%d.csv.gz", trial)
  con <- gzfile(file, "w"); write.csv(d, con, row.names = FALSE); close(con)
  d <- read.csv(file); d$g <- factor(d$g)
  msgs <- character()
  m <- withCallingHandlers(lmer(y ~ x + (x | g), d),
    warning = function(w) {msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning")})
  out[[length(out) + 1]] <- list(
    id = sprintf("alarm_%d", trial), data_file = sub("tests/reference/", "", file),
    formula = "y ~ x + (x | g)", reml = TRUE,
    objective = m@devcomp$cmp[["REML"]], theta = unname(getME(m, "theta")),
    fixef = as.list(fixef(m)), warnings = msgs)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/convergence_alarms.json")
