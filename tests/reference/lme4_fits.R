## Reference fits from lme4 for the mixedmodels test suite.
##
## Run from the repository root, after tests/reference/export_datasets.R:
##   Rscript tests/reference/lme4_fits.R
##
## Reads the data files bundled with mixedmodels (src/mixedmodels/datasets/data), so that R and
## Python fit exactly the same numbers, rebuilds the factors with the recorded level order, fits
## each model with lme4 (lme4 only: not lmerTest, so the summaries are lme4's) and writes
## tests/reference/lme4_fits.json. Data not in a bundled dataset is written to
## tests/reference/data/<id>.csv and read back from there before fitting.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

data_dir <- file.path("src", "mixedmodels", "datasets", "data")
ref_dir <- file.path("tests", "reference")
dir.create(file.path(ref_dir, "data"), showWarnings = FALSE, recursive = TRUE)
index <- fromJSON(file.path(data_dir, "index.json"), simplifyVector = TRUE)

source("tests/reference/common.R")  # exact CSV I/O shared with the other scripts

## ---- data not in a bundled dataset ----------------------------------------------------------

make_nested3 <- function() {
  set.seed(20261122)
  cells <- expand.grid(rep = 1:4, c = 1:3, b = 1:4, a = 1:5)  # a slowest, rep fastest
  n <- nrow(cells)                                           # 240
  x <- rnorm(n)
  ea <- rnorm(5, sd = 1)
  eb <- rnorm(5 * 4, sd = 0.7)
  ec <- rnorm(5 * 4 * 3, sd = 0.5)
  e <- rnorm(n, sd = 0.4)
  ib <- (cells$a - 1) * 4 + cells$b
  ic <- (ib - 1) * 3 + cells$c
  data.frame(
    y = 1 + 0.5 * x + ea[cells$a] + eb[ib] + ec[ic] + e,
    x = x,
    a = factor(paste0("a", cells$a), levels = paste0("a", 1:5)),
    b = factor(paste0("b", cells$b), levels = paste0("b", 1:4)),
    c = factor(paste0("c", cells$c), levels = paste0("c", 1:3))
  )
}

sleep_w <- load_bundled("sleepstudy")
sleep_w$w <- 1 + (sleep_w$Days %% 3)
sleep_off <- load_bundled("sleepstudy")
sleep_off$off <- 2.5 * sleep_off$Days

generated <- list(sleepstudy_weights = sleep_w, sleepstudy_offset = sleep_off,
                  nested3 = make_nested3())

## ---- the fits ----------------------------------------------------------------------------

spec <- function(id, dataset, formula, reml, weights = NULL, offset = NULL) {
  list(id = id, dataset = dataset, formula = formula, reml = reml,
       weights = weights, offset = offset)
}

fits <- list(
  spec("sleepstudy_slope_reml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", TRUE),
  spec("sleepstudy_slope_ml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", FALSE),
  spec("sleepstudy_uncorr", "sleepstudy", "Reaction ~ Days + (Days || Subject)", TRUE),
  spec("sleepstudy_two_terms", "sleepstudy",
       "Reaction ~ 1 + Days + (1 | Subject) + (0 + Days | Subject)", TRUE),
  spec("sleepstudy_transforms", "sleepstudy",
       "log(Reaction) ~ scale(Days) + I(Days^2) + (1 + Days | Subject)", TRUE),
  spec("sleepstudy_minus1", "sleepstudy",
       "Reaction ~ Days + (1 | Subject) + (-1 + Days | Subject)", FALSE),
  spec("dyestuff_reml", "dyestuff", "Yield ~ 1 + (1 | Batch)", TRUE),
  spec("dyestuff2_singular", "dyestuff2", "Yield ~ 1 + (1 | Batch)", TRUE),
  spec("penicillin_crossed", "penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", TRUE),
  spec("penicillin_crossed_ml", "penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", FALSE),
  spec("pastes_nested", "pastes", "strength ~ 1 + (1 | batch/cask)", TRUE),
  spec("pastes_interaction", "pastes", "strength ~ 1 + (1 | batch:cask)", TRUE),
  spec("insteval_crossed_ml", "insteval", "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)", FALSE),
  spec("exam_slope", "exam", "normexam ~ standLRT + sex + (standLRT | school)", TRUE),
  spec("exam_interaction", "exam", "normexam ~ standLRT * sex + schgend + (1 | school)", FALSE),
  spec("exam_rankdef", "exam", "normexam ~ standLRT + schgend + type + (1 | school)", TRUE),
  spec("machines_factor_lhs", "machines", "score ~ Machine + (0 + Machine | Worker)", TRUE),
  spec("machines_nested", "machines", "score ~ Machine + (1 | Worker/Machine)", TRUE),
  spec("sleepstudy_weights", NULL, "Reaction ~ Days + (Days | Subject)", TRUE, weights = "w"),
  spec("sleepstudy_offset", NULL, "Reaction ~ Days + (1 | Subject)", TRUE, offset = "off"),
  spec("nested3", NULL, "y ~ x + (1 | a/b/c)", TRUE),
  spec("exam_uncorr_ml", "exam", "normexam ~ standLRT + (standLRT || school)", FALSE)
)

## ---- helpers to extract results -------------------------------------------------------------

named <- function(x) as.list(x)  # named vector -> JSON object (order kept)

matrix_rows <- function(m) lapply(seq_len(nrow(m)), function(i) unname(as.numeric(m[i, ])))

na_null <- function(x) if (is.na(x)) NULL else x

varcorr_rows <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[i], var1 = na_null(vc$var1[i]), var2 = na_null(vc$var2[i]),
    vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
}

## Conditional covariance per level. When a grouping factor has several terms, lme4 gives one
## array per term; the k x k matrix then holds those diagonal blocks and null (not computed
## by lme4) between terms.
condvar_lists <- function(re) {
  out <- list()
  for (g in names(re)) {
    pv <- attr(re[[g]], "postVar")
    nlev <- nrow(re[[g]])
    if (is.list(pv)) {
      ks <- vapply(pv, function(a) dim(a)[1], 1L)
      k <- sum(ks)
      start <- cumsum(c(0, ks))[seq_along(ks)]
      full <- array(NA_real_, c(k, k, nlev))
      for (j in seq_along(pv)) {
        idx <- start[j] + seq_len(ks[j])
        full[idx, idx, ] <- pv[[j]]
      }
      pv <- full
    }
    out[[g]] <- lapply(seq_len(nlev), function(l) {
      mat <- pv[, , l, drop = FALSE]
      dim(mat) <- dim(pv)[1:2]
      lapply(seq_len(nrow(mat)), function(i) as.list(mat[i, ]))  # keeps NA -> null
    })
  }
  out
}

ranef_lists <- function(re) {
  out <- list()
  for (g in names(re)) {
    df <- re[[g]]
    out[[g]] <- list(levels = rownames(df), columns = names(df),
                     values = matrix_rows(as.matrix(df)))
  }
  out
}

run_fit <- function(s) {
  if (!is.null(s$dataset)) {
    dat <- load_bundled(s$dataset)
    data_name <- s$dataset
    data_file <- NULL
  } else {
    data_name <- s$id
    rel <- file.path("data", paste0(s$id, ".csv"))
    meta <- write_exact_csv(generated[[s$id]], file.path(ref_dir, rel))
    dat <- read_exact_csv(file.path(ref_dir, rel), meta)
    stopifnot(identical(dat, generated[[s$id]]))
    data_file <- rel
  }
  ## the data is bound to its own name so that summary() prints "Data: <name>"
  env <- new.env()
  assign(data_name, dat, envir = env)
  call_text <- sprintf("lmer(%s, data = %s, REML = %s%s%s)", s$formula, data_name,
                       if (s$reml) "TRUE" else "FALSE",
                       if (is.null(s$weights)) "" else paste0(", weights = ", s$weights),
                       if (is.null(s$offset)) "" else paste0(", offset = ", s$offset))
  msgs <- character()
  t0 <- proc.time()[["elapsed"]]
  m <- withCallingHandlers(
    eval(parse(text = call_text), envir = env),
    warning = function(w) {
      msgs <<- c(msgs, paste0("warning: ", conditionMessage(w)))
      invokeRestart("muffleWarning")
    },
    message = function(cm) {
      msgs <<- c(msgs, paste0("message: ", sub("\n$", "", conditionMessage(cm))))
      invokeRestart("muffleMessage")
    })
  elapsed <- proc.time()[["elapsed"]] - t0

  dropped <- attr(getME(m, "X"), "col.dropped")
  sres <- resid(m, scaled = TRUE)
  q <- unname(quantile(sres))
  vc <- as.matrix(vcov(m))
  ## deviance() of a REML fit is deprecated in lme4 (it warns and returns the REML criterion)
  dev <- suppressWarnings(deviance(m))
  factors <- Filter(Negate(is.null), lapply(dat, function(x) if (is.factor(x)) levels(x)))
  ordered <- names(dat)[vapply(dat, is.ordered, TRUE)]

  res <- list(
    id = s$id,
    dataset = s$dataset,
    data_file = data_file,
    factors = factors,
    ordered_factors = I(ordered),
    columns = lapply(column_meta(dat), function(m) m$type),
    formula = s$formula,
    reml = s$reml,
    weights = s$weights,
    offset = s$offset,
    call = call_text,
    objective = if (s$reml) m@devcomp$cmp[["REML"]] else m@devcomp$cmp[["dev"]],
    theta = named(getME(m, "theta")),
    fixef = named(fixef(m)),
    se = named(sqrt(diag(vc))),
    vcov = list(names = I(colnames(vc)), values = matrix_rows(vc)),
    sigma = sigma(m),
    varcorr = varcorr_rows(m),
    loglik = as.numeric(logLik(m)),
    loglik_df = attr(logLik(m), "df"),
    aic = AIC(m),
    bic = BIC(m),
    deviance = dev,
    df_resid = df.residual(m),
    nobs = nobs(m),
    ngroups = named(ngrps(m)),
    singular = isSingular(m),
    dropped_columns = I(if (is.null(dropped)) character() else names(dropped)),
    messages = I(msgs),
    conv_messages = I(as.character(unlist(m@optinfo$conv$lme4$messages))),
    optimizer = m@optinfo$optimizer,
    feval = m@optinfo$feval,
    scaled_resid_quantiles = list(min = q[1], `1Q` = q[2], median = q[3], `3Q` = q[4],
                                  max = q[5]),
    summary_text = paste(capture.output(print(summary(m))), collapse = "\n"),
    r_seconds = elapsed
  )
  if (nobs(m) <= 2000) {
    re <- ranef(m, condVar = TRUE)
    res$fitted <- unname(fitted(m))
    res$ranef <- ranef_lists(re)
    res$condvar <- condvar_lists(re)
    res$predict_fixed <- unname(predict(m, re.form = NA))
  }
  cat(sprintf("%-24s objective %.6f  feval %3d  %s\n", s$id, res$objective, res$feval,
              paste(msgs, collapse = " | ")))
  res
}

results <- lapply(fits, run_fit)

out <- list(
  R_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  generated = format(Sys.Date()),
  fits = results
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
           file.path(ref_dir, "lme4_fits.json"))
