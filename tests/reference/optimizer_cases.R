# lme4's fits of the small designs in tests/data on which our optimiser once stopped
# short of the optimum (see tests/test_optimize.py): each objective is the bar our fit
# must reach. Writes tests/reference/optimizer_cases.json. Run from the repository root:
#   Rscript tests/reference/optimizer_cases.R
suppressMessages({library(lme4); library(jsonlite)})
cases <- list(
  list(id = "mirror_boundary", file = "tests/data/mirror_boundary.csv",
       formula = "y ~ x1 + (1 + x1 | g)", reml = FALSE, weights = NULL),
  list(id = "restart_twice", file = "tests/data/restart_twice.csv",
       formula = "y ~ 1 + (1 + z1_1 | g1) + (1 | g2) + (1 + z3_1 + z3_2 | g3)",
       reml = TRUE, weights = "w"),
  list(id = "rotate_boundary", file = "tests/data/rotate_boundary.csv",
       formula = "y ~ x1 + (1 | g0) + (1 | g1) + (1 + x1 | g2)", reml = TRUE, weights = NULL)
)
out <- lapply(cases, function(s) {
  d <- read.csv(s$file, stringsAsFactors = TRUE)
  w <- if (is.null(s$weights)) NULL else d[[s$weights]]
  m <- suppressWarnings(lmer(as.formula(s$formula), d, REML = s$reml, weights = w))
  crit <- if (s$reml) "REML" else "dev"
  list(id = s$id, data_file = s$file, formula = s$formula, reml = s$reml,
       weights = s$weights, objective = m@devcomp$cmp[[crit]],
       theta = unname(getME(m, "theta")))
})
writeLines(toJSON(list(R_version = R.version.string,
                       lme4_version = as.character(packageVersion("lme4")),
                       fits = out), digits = NA, auto_unbox = TRUE, pretty = TRUE,
                  null = "null"),
           "tests/reference/optimizer_cases.json")
