# Times lme4::lmer on a CSV written by run.py; prints one JSON line.
# Usage: Rscript lme4_time.R data.csv "formula" REML(TRUE/FALSE) repeats factor1,factor2,... warmup(0/1)
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
for (f in strsplit(args[5], ",")[[1]]) if (nzchar(f)) d[[f]] <- factor(d[[f]])
form <- as.formula(args[2])
reml <- as.logical(args[3])
times <- numeric(0)
# one untimed warm-up fit where the model is fitted more than once (as run.py does)
if (length(args) >= 6 && args[6] == "1") {
  m <- suppressMessages(suppressWarnings(lmer(form, d, REML = reml)))
}
for (r in seq_len(as.integer(args[4]))) {
  t0 <- Sys.time()  # microseconds (proc.time's elapsed counts whole milliseconds)
  m <- suppressMessages(suppressWarnings(lmer(form, d, REML = reml)))
  times <- c(times, as.numeric(difftime(Sys.time(), t0, units = "secs")))
}
obj <- if (reml) m@devcomp$cmp[["REML"]] else m@devcomp$cmp[["dev"]]
cat(toJSON(list(seconds = median(times), objective = obj, feval = m@optinfo$feval,
                version = as.character(packageVersion("lme4"))), digits = NA, auto_unbox = TRUE), "\n")
