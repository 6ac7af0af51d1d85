## Export the datasets bundled with mixedmodels from their R packages.
##
## Run from the repository root:
##   Rscript tests/reference/export_datasets.R
##
## Writes src/mixedmodels/datasets/data/<name>.csv[.gz] and index.json. Doubles are written
## with the shortest of 15 or 17 significant digits that reads back to the identical double,
## so R and Python see exactly the same numbers. Factor levels (in R's order) and whether a
## factor is ordered are recorded in index.json; the CSV holds the level labels.

suppressPackageStartupMessages({
  library(lme4)
  library(mlmRev)
  library(nlme)
  library(jsonlite)
})

out_dir <- file.path("src", "mixedmodels", "datasets", "data")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)

source("tests/reference/common.R")  # exact CSV I/O shared with the other scripts

plain <- function(df) {
  ## drop groupedData classes and attributes: keep a plain data.frame
  df <- as.data.frame(lapply(df, function(x) x), check.names = FALSE,
                      stringsAsFactors = FALSE)
  rownames(df) <- NULL
  df
}

datasets <- list(
  sleepstudy = list(
    data = lme4::sleepstudy,
    description = "Reaction times in a sleep deprivation study: 18 subjects, days 0-9 of 3 h sleep per night",
    source = "lme4::sleepstudy; Belenky et al. (2003), J. Sleep Res. 12:1-12"),
  dyestuff = list(
    data = lme4::Dyestuff,
    description = "Yield of dyestuff (grams of standard colour) from 5 preparations in each of 6 batches of an intermediate product",
    source = "lme4::Dyestuff; Davies and Goldsmith (1972), Statistical Methods in Research and Production, 4th ed., Oliver and Boyd, Table 6.3"),
  dyestuff2 = list(
    data = lme4::Dyestuff2,
    description = "Simulated dyestuff yields, 5 per batch in 6 batches; the between-batch variance estimate is zero",
    source = "lme4::Dyestuff2; Box and Tiao (1973), Bayesian Inference in Statistical Analysis, Addison-Wesley, Table 5.1.4"),
  penicillin = list(
    data = lme4::Penicillin,
    description = "Diameter of growth-inhibition zones: 6 penicillin samples on each of 24 plates (fully crossed)",
    source = "lme4::Penicillin; Davies and Goldsmith (1972), Statistical Methods in Research and Production, 4th ed., Oliver and Boyd, Table 6.6"),
  pastes = list(
    data = lme4::Pastes,
    description = "Strength of a chemical paste: 2 assays on each of 3 casks within each of 10 delivery batches (nested)",
    source = "lme4::Pastes; Davies and Goldsmith (1972), Statistical Methods in Research and Production, 4th ed., Oliver and Boyd, Table 6.5"),
  insteval = list(
    data = lme4::InstEval,
    description = "University lecture evaluations by students at ETH Zurich: ratings y (1-5) of lecturers d by students s",
    source = "lme4::InstEval; ETH Zurich course evaluation data, distributed with lme4 (Bates, Maechler, Bolker and Walker 2015, J. Stat. Softw. 67(1))"),
  exam = list(
    data = mlmRev::Exam,
    description = "Normalized exam scores of 4059 students in 65 inner-London schools, with intake (LRT) score and school type",
    source = "mlmRev::Exam; Goldstein et al. (1993), A multilevel analysis of school examination results, Oxford Rev. Educ. 19:425-433"),
  machines = list(
    data = plain(nlme::Machines),
    description = "Productivity scores of 6 workers on each of 3 machine brands, 3 replicates per worker and machine",
    source = "nlme::Machines; Milliken and Johnson (1992), Analysis of Messy Data, Vol. 1: Designed Experiments, Chapman and Hall; Pinheiro and Bates (2000)")
)

gzip_threshold <- 1000  # rows: larger datasets are stored gzipped

index <- list()
for (name in names(datasets)) {
  d <- datasets[[name]]
  df <- plain(d$data)
  file <- paste0(name, if (nrow(df) > gzip_threshold) ".csv.gz" else ".csv")
  path <- file.path(out_dir, file)
  meta <- write_exact_csv(df, path)
  back <- read_exact_csv(path, meta)
  if (!isTRUE(all.equal(df, back, tolerance = 0)) || !identical(df, back)) {
    stop("round trip failed for ", name)
  }
  index[[name]] <- list(
    file = file,
    description = d$description,
    source = d$source,
    nobs = nrow(df),
    ncol = ncol(df),
    columns = meta
  )
  cat(sprintf("%-12s %6d x %2d -> %s\n", name, nrow(df), ncol(df), file))
}

writeLines(toJSON(index, auto_unbox = TRUE, pretty = TRUE, digits = NA),
           file.path(out_dir, "index.json"))
