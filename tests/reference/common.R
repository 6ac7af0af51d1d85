## Helpers shared by lme4_fits.R and lmertest_fits.R: exact CSV I/O with the
## conventions of export_datasets.R (sourced; run the scripts from the repository root).


format_double <- function(x) {
  s <- formatC(x, digits = 15, format = "g")
  bad <- !is.na(x) & as.numeric(s) != x
  s[bad] <- formatC(x[bad], digits = 17, format = "g")
  s <- trimws(s)
  s[is.na(x)] <- ""
  s
}

column_meta <- function(df) {
  lapply(df, function(x) {
    if (is.factor(x)) list(type = "factor", levels = levels(x), ordered = is.ordered(x))
    else if (is.integer(x)) list(type = "integer")
    else if (is.double(x)) list(type = "double")
    else stop("unsupported column type")
  })
}

write_exact_csv <- function(df, path) {
  meta <- column_meta(df)
  out <- df
  for (nm in names(df)) {
    if (meta[[nm]]$type == "factor") out[[nm]] <- as.character(df[[nm]])
    if (meta[[nm]]$type == "double") out[[nm]] <- format_double(df[[nm]])
  }
  quoted <- which(vapply(meta, function(m) m$type == "factor", TRUE))
  write.csv(out, path, row.names = FALSE, na = "",
            quote = if (length(quoted)) quoted else FALSE)
  meta
}

read_exact_csv <- function(path, meta) {
  classes <- vapply(meta, function(m) switch(m$type, factor = "character",
    integer = "integer", double = "numeric"), "")
  con <- if (grepl("\\.gz$", path)) gzfile(path) else file(path)
  df <- read.csv(con, colClasses = classes, check.names = FALSE, na.strings = "",
                 stringsAsFactors = FALSE)
  for (nm in names(meta)) {
    m <- meta[[nm]]
    if (m$type == "factor") {
      df[[nm]] <- factor(df[[nm]], levels = m$levels, ordered = isTRUE(m$ordered))
    }
  }
  df
}

load_bundled <- function(name) {
  entry <- index[[name]]
  read_exact_csv(file.path(data_dir, entry$file), entry$columns)
}

