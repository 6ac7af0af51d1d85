## Reference values for model comparison, term tests, confidence intervals and the bootstrap.
##
## Run from the repository root:
##   Rscript tests/reference/lme4_inference.R
##
## Reads the bundled data files (src/mixedmodels/datasets/data) with the recorded factor
## levels, so R and Python see the same numbers, and writes tests/reference/lme4_inference.json:
##
## - anova: lme4's anova(m0, m1, ...) tables (REML fits refitted with ML, a pair that differs in
##   random effects, lmer against lm, refit = FALSE);
## - ranova: lmerTest::ranova tables; drop1: lmerTest's drop1 (Satterthwaite F tests) and
##   lme4's drop1(test = "Chisq");
## - confint: confint(m, method = "Wald") and confint(m, method = "profile"); profile: rows of
##   as.data.frame(profile(m));
## - boot: confint(m, method = "boot", nsim = 1000, seed = 20260401) with summaries of the
##   replicates (bootMer with lme4's default statistic);
## - pbmodcomp: the deterministic part of pbkrtest::PBmodcomp (LRT statistic, df, chi-square p).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})

data_dir <- file.path("src", "mixedmodels", "datasets", "data")
out_path <- file.path("tests", "reference", "lme4_inference.json")
index <- fromJSON(file.path(data_dir, "index.json"), simplifyVector = TRUE)

read_bundled <- function(name) {
  meta <- index[[name]]$columns
  classes <- vapply(meta, function(m) switch(m$type, factor = "character",
    integer = "integer", double = "numeric"), "")
  path <- file.path(data_dir, index[[name]]$file)
  con <- if (grepl("\\.gz$", path)) gzfile(path) else file(path)
  df <- read.csv(con, colClasses = classes, check.names = FALSE, na.strings = "",
                 stringsAsFactors = FALSE)
  for (nm in names(meta)) {
    if (meta[[nm]]$type == "factor") {
      df[[nm]] <- factor(df[[nm]], levels = meta[[nm]]$levels,
                         ordered = isTRUE(meta[[nm]]$ordered))
    }
  }
  df
}

sleepstudy <- read_bundled("sleepstudy")
dyestuff <- read_bundled("dyestuff")
penicillin <- read_bundled("penicillin")
pastes <- read_bundled("pastes")
machines <- read_bundled("machines")
exam <- read_bundled("exam")

## A table (data frame with row names) as {rows, columns: {name: values}} with NA -> null.
table_json <- function(tab) {
  tab <- as.data.frame(tab, check.names = FALSE)
  cols <- lapply(names(tab), function(nm) {
    v <- as.numeric(tab[[nm]])
    lapply(v, function(x) if (is.na(x)) NULL else x)
  })
  names(cols) <- names(tab)
  list(rows = I(rownames(tab)), columns = cols)
}

messages_of <- function(expr) {
  msgs <- character()
  value <- withCallingHandlers(expr,
    message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") },
    warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") })
  list(value = value, messages = trimws(msgs))
}

## ---- model comparison ------------------------------------------------------------------------

anova_case <- function(id, dataset, calls, refit = TRUE) {
  env <- new.env()
  assign(dataset, get(dataset), envir = env)
  fits <- lapply(calls, function(cl) eval(parse(text = cl), envir = env))
  names(fits) <- paste0("m", seq_along(fits) - 1)
  res <- messages_of(do.call(anova, c(unname(fits), list(refit = refit,
                                                           model.names = names(fits)))))
  list(id = id, dataset = dataset, calls = calls, refit = refit,
       table = table_json(res$value), messages = res$messages)
}

anova_cases <- list(
  anova_case("sleep_fixed_reml", "sleepstudy", c(
    "lmer(Reaction ~ 1 + (Days | Subject), sleepstudy)",
    "lmer(Reaction ~ Days + (Days | Subject), sleepstudy)")),
  anova_case("sleep_random_ml", "sleepstudy", c(
    "lmer(Reaction ~ Days + (1 | Subject), sleepstudy, REML = FALSE)",
    "lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE)")),
  anova_case("sleep_random_reml_norefit", "sleepstudy", c(
    "lmer(Reaction ~ Days + (1 | Subject), sleepstudy)",
    "lmer(Reaction ~ Days + (Days | Subject), sleepstudy)"), refit = FALSE),
  anova_case("sleep_lmer_ml_vs_lm", "sleepstudy", c(
    "lmer(Reaction ~ Days + (1 | Subject), sleepstudy, REML = FALSE)",
    "lm(Reaction ~ Days, sleepstudy)")),
  anova_case("sleep_lmer_reml_vs_lm", "sleepstudy", c(
    "lmer(Reaction ~ Days + (Days | Subject), sleepstudy)",
    "lm(Reaction ~ Days, sleepstudy)")),
  anova_case("exam_three", "exam", c(
    "lmer(normexam ~ standLRT * sex + (1 | school), exam)",
    "lmer(normexam ~ standLRT + (1 | school), exam)",
    "lmer(normexam ~ standLRT + sex + (1 | school), exam)"))
)

## ---- ranova and drop1 ------------------------------------------------------------------------

term_case <- function(id, dataset, formula, reml) {
  d <- get(dataset)
  m <- lmerTest::lmer(as.formula(formula), data = d, REML = reml)
  rv <- ranova(m)
  out <- list(id = id, dataset = dataset, formula = formula, reml = reml,
              ranova = table_json(rv))
  if (length(attr(terms(nobars(formula(m))), "term.labels")) > 0) {
    out$drop1_f <- table_json(drop1(m))
    out$drop1_chisq <- table_json(drop1(as(m, "lmerMod"), test = "Chisq"))
  }
  out
}

term_cases <- list(
  term_case("sleep_slope_reml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", TRUE),
  term_case("sleep_slope_ml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", FALSE),
  term_case("dyestuff_reml", "dyestuff", "Yield ~ 1 + (1 | Batch)", TRUE),
  term_case("machines_nested", "machines", "score ~ Machine + (1 | Worker/Machine)", TRUE),
  term_case("penicillin_crossed", "penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", TRUE),
  term_case("exam_interaction", "exam",
            "normexam ~ standLRT * sex + schgend + (1 | school)", TRUE)
)

## ---- confidence intervals and profiles ------------------------------------------------------

confint_case <- function(id, dataset, formula, profile_rows = FALSE) {
  d <- get(dataset)
  m <- lme4::lmer(as.formula(formula), data = d, REML = TRUE)
  wald <- confint(m, method = "Wald")
  pr <- profile(m)
  prof <- confint(pr)
  out <- list(id = id, dataset = dataset, formula = formula, reml = TRUE,
              wald = table_json(wald), profile = table_json(prof))
  if (profile_rows) {
    df <- as.data.frame(pr)
    out$profile_frame <- list(
      par = as.character(df$.par), zeta = df$.zeta, focal = df$.focal,
      values = lapply(setdiff(names(df), c(".zeta", ".par", ".focal")),
                      function(nm) list(name = nm, values = df[[nm]])))
  }
  out
}

confint_cases <- list(
  confint_case("sleep_slope", "sleepstudy", "Reaction ~ Days + (Days | Subject)", TRUE),
  confint_case("dyestuff", "dyestuff", "Yield ~ 1 + (1 | Batch)", TRUE),
  confint_case("penicillin", "penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  confint_case("pastes_nested", "pastes", "strength ~ 1 + (1 | batch/cask)")
)

## ---- parametric bootstrap ----------------------------------------------------------------------

boot_seed <- 20260401L
m_boot <- lme4::lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy)
t0 <- proc.time()[["elapsed"]]
boot_ci <- confint(m_boot, method = "boot", nsim = 1000, seed = boot_seed, quiet = TRUE)
boot_seconds <- proc.time()[["elapsed"]] - t0
## The same replicates again (same seed) for their summaries.
vn <- c(sprintf(".sig%02d", seq_along(getME(m_boot, "theta"))), ".sigma")
boot_fun <- function(x) {
  ## confint.merMod's own statistic: sd/cor on lme4's scale (a correlation with a zero sd is 0).
  ss <- lme4:::Cv_to_Sv(getME(x, "theta"), n = lengths(x@cnms), s = sigma(x))
  c(setNames(as.numeric(ss), vn), fixef(x))
}
bb <- bootMer(m_boot, boot_fun, nsim = 1000, seed = boot_seed)
boot_case <- list(
  id = "sleep_slope", formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE,
  nsim = 1000, seed = boot_seed, r_seconds = boot_seconds,
  confint = table_json(boot_ci),
  replicate_mean = as.list(colMeans(bb$t)), replicate_sd = as.list(apply(bb$t, 2, sd)),
  names = colnames(bb$t), n_failed = sum(!stats::complete.cases(bb$t))
)

## ---- PBmodcomp (deterministic part) --------------------------------------------------------

pb_large <- lme4::lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy)
pb_small <- lme4::lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy)
pb <- PBmodcomp(pb_large, pb_small, nsim = 200, seed = 1)
pb_case <- list(
  large = "Reaction ~ Days + (Days | Subject)", small = "Reaction ~ Days + (1 | Subject)",
  reml = TRUE, lrt = as.list(unlist(pb$test["LRT", ])),
  pb_p_value_r = pb$test["PBtest", "p.value"], nsim = 200
)

doc <- list(
  R_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  lmerTest_version = as.character(packageVersion("lmerTest")),
  pbkrtest_version = as.character(packageVersion("pbkrtest")),
  generated = as.character(Sys.Date()),
  anova = anova_cases, terms = term_cases, confint = confint_cases,
  boot = boot_case, pbmodcomp = pb_case
)
writeLines(toJSON(doc, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE), out_path)
cat("wrote", out_path, "\n")
