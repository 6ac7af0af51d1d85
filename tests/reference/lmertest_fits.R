## Reference values from lmerTest, pbkrtest and performance for tests/inference/.
##
## Run from the repository root:
##   Rscript tests/reference/lmertest_fits.R
##
## Reads the data bundled with mixedmodels (src/mixedmodels/datasets/data) and writes data
## that R ships elsewhere (nlme::Oats, datasets::ChickWeight, datasets::npk) to
## tests/reference/data/<id>.csv, so the Python tests never need R. For every fit it records
## lmerTest's t tests (Satterthwaite and Kenward-Roger), anova() types 1, 2, 3 with
## Satterthwaite's method and type 3 with Kenward-Roger's, pbkrtest's adjusted covariance
## and per-coefficient KR df (REML fits), performance's r2_nakagawa and icc, and the printed
## summary of a few fits. Output: tests/reference/lmertest_fits.json.

suppressPackageStartupMessages({
  library(lmerTest)
  library(pbkrtest)
  library(performance)
  library(jsonlite)
})

data_dir <- file.path("src", "mixedmodels", "datasets", "data")
ref_dir <- file.path("tests", "reference")
dir.create(file.path(ref_dir, "data"), showWarnings = FALSE, recursive = TRUE)
index <- fromJSON(file.path(data_dir, "index.json"), simplifyVector = TRUE)

source("tests/reference/common.R")  # exact CSV I/O shared with the other scripts

## ---- data R ships (plain factors, no ordered ones) ------------------------------------------

make_oats <- function() {
  o <- as.data.frame(nlme::Oats)
  data.frame(yield = as.numeric(o$yield),
             nitro = factor(format(o$nitro), levels = format(sort(unique(o$nitro)))),
             Variety = factor(as.character(o$Variety)),
             Block = factor(as.character(o$Block), levels = c("I", "II", "III", "IV", "V", "VI")))
}

make_chick <- function() {
  cw <- as.data.frame(datasets::ChickWeight)
  data.frame(weight = as.numeric(cw$weight), Time = as.numeric(cw$Time),
             Chick = factor(as.character(cw$Chick)),
             Diet = factor(as.character(cw$Diet)))
}

make_npk <- function() {
  d <- datasets::npk
  data.frame(block = d$block, N = d$N, P = d$P, K = d$K, yield = as.numeric(d$yield))
}

oats <- make_oats()
generated <- list(
  oats = oats,
  oats_unbalanced = oats[-c(1, 8, 20, 33, 47, 60), ],
  chickweight = make_chick(),
  npk = make_npk()
)

## ---- the fits ------------------------------------------------------------------------------

spec <- function(id, dataset, formula, reml = TRUE, print = FALSE) {
  list(id = id, dataset = dataset, formula = formula, reml = reml, print = print)
}

fits <- list(
  spec("machines", "machines", "score ~ Machine + (1 | Worker)", print = TRUE),
  spec("machines_nested", "machines", "score ~ Machine + (1 | Worker/Machine)"),
  spec("exam_interaction", "exam", "normexam ~ standLRT * sex + schgend + (1 | school)"),
  spec("exam_slope", "exam", "normexam ~ standLRT + sex + (standLRT | school)"),
  spec("sleepstudy_slope", "sleepstudy", "Reaction ~ Days + (Days | Subject)", print = TRUE),
  spec("sleepstudy_slope_ml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", FALSE,
       print = TRUE),
  spec("sleepstudy_uncorr", "sleepstudy", "Reaction ~ Days + (Days || Subject)"),
  spec("penicillin_crossed", "penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  spec("pastes_nested", "pastes", "strength ~ cask + (1 | batch/cask)"),
  spec("dyestuff", "dyestuff", "Yield ~ 1 + (1 | Batch)"),
  spec("oats", "oats", "yield ~ nitro * Variety + (1 | Block/Variety)"),
  spec("oats_unbalanced", "oats_unbalanced", "yield ~ nitro * Variety + (1 | Block/Variety)"),
  spec("chickweight", "chickweight", "weight ~ Time * Diet + (Time | Chick)"),
  spec("npk", "npk", "yield ~ N * P + K + (1 | block)")
)

## ---- extraction helpers --------------------------------------------------------------------

matrix_rows <- function(m) lapply(seq_len(nrow(m)), function(i) I(unname(as.numeric(m[i, ]))))

## I(): vectors stay JSON arrays even with one element (auto_unbox would unbox them).
anova_table <- function(a) {
  list(terms = I(rownames(a)), sum_sq = I(unname(a[["Sum Sq"]])),
       mean_sq = I(unname(a[["Mean Sq"]])), numdf = I(unname(a[["NumDF"]])),
       dendf = I(unname(a[["DenDF"]])), f = I(unname(a[["F value"]])),
       p = I(unname(a[["Pr(>F)"]])))
}

coef_rows <- function(ct) {
  list(names = I(rownames(ct)), estimate = I(unname(ct[, "Estimate"])),
       se = I(unname(ct[, "Std. Error"])), df = I(unname(ct[, "df"])),
       t = I(unname(ct[, "t value"])), p = I(unname(ct[, "Pr(>|t|)"])))
}

run_fit <- function(s) {
  if (s$dataset %in% names(index)) {
    dat <- load_bundled(s$dataset)
    data_file <- NULL
  } else {
    rel <- file.path("data", paste0(s$dataset, ".csv"))
    meta <- write_exact_csv(generated[[s$dataset]], file.path(ref_dir, rel))
    dat <- read_exact_csv(file.path(ref_dir, rel), meta)
    data_file <- rel
  }
  ## Named data and a literal formula, so the printed summary shows "Formula: ..." and
  ## "Data: <dataset>" as a user's call would.
  assign(s$dataset, dat)
  m <- eval(bquote(lmer(.(as.formula(s$formula)), data = .(as.name(s$dataset)),
                        REML = .(s$reml))))
  out <- list(id = s$id, dataset = if (is.null(data_file)) s$dataset else NULL,
              data_file = data_file, formula = s$formula, reml = s$reml,
              columns = lapply(column_meta(dat), function(x) x$type),
              factors = lapply(Filter(is.factor, dat), levels),
              theta = I(unname(getME(m, "theta"))), sigma = sigma(m),
              objective = unname(if (s$reml) getME(m, "devcomp")$cmp[["REML"]]
                                 else deviance(m)))
  out$coefficients <- coef_rows(summary(m)$coefficients)
  out$vcov <- matrix_rows(as.matrix(vcov(m)))
  nterms <- length(attr(terms(m), "term.labels"))
  if (nterms > 0) {
    out$anova <- list(
      type1 = anova_table(anova(m, type = 1)),
      type2 = anova_table(anova(m, type = 2)),
      type3 = anova_table(anova(m, type = 3))
    )
  }
  if (s$reml) {
    out$coefficients_kr <- coef_rows(summary(m, ddf = "Kenward-Roger")$coefficients)
    vadj <- vcovAdj(m)
    out$kr_vcov_adj <- matrix_rows(as.matrix(vadj))
    p <- length(fixef(m))
    out$kr_df <- I(vapply(seq_len(p), function(i) {
      L <- matrix(0, 1, p); L[1, i] <- 1
      get_Lb_ddf(m, L)
    }, 1.0))
    if (nterms > 0) out$anova$type3_kr <- anova_table(anova(m, type = 3, ddf = "Kenward-Roger"))
  }
  r2 <- suppressWarnings(r2_nakagawa(m))
  out$r2 <- list(marginal = unname(r2$R2_marginal), conditional = unname(r2$R2_conditional))
  ic <- suppressWarnings(icc(m))
  out$icc <- list(adjusted = unname(ic$ICC_adjusted), unadjusted = unname(ic$ICC_unadjusted))
  if (isTRUE(s$print)) {
    out$summary_text <- paste(capture.output(print(summary(m))), collapse = "\n")
  }
  out
}

results <- lapply(fits, function(s) {
  t0 <- proc.time()[["elapsed"]]
  r <- run_fit(s)
  message(sprintf("%-22s %6.1f s", s$id, proc.time()[["elapsed"]] - t0))
  r
})

doc <- list(
  R_version = paste(R.version$major, R.version$minor, sep = "."),
  lme4_version = as.character(packageVersion("lme4")),
  lmerTest_version = as.character(packageVersion("lmerTest")),
  pbkrtest_version = as.character(packageVersion("pbkrtest")),
  performance_version = as.character(packageVersion("performance")),
  generated = format(Sys.Date()),
  fits = results
)
writeLines(toJSON(doc, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path(ref_dir, "lmertest_fits.json"))
