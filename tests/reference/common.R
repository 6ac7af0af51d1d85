## Helpers shared by export_datasets.R, lme4_fits.R and lmertest_fits.R: exact CSV I/O
## (sourced; run the scripts from the repository root). load_bundled() needs the
## globals `index` and `data_dir` of the script that sources this file.


## Shortest exact decimal text for a double vector (NA -> empty field).
format_double <- function(x) {
  s <- formatC(x, digits = 15, format = "g")
  bad <- !is.na(x) & as.numeric(s) != x
  s[bad] <- formatC(x[bad], digits = 17, format = "g")
  s <- trimws(s)
  s[is.na(x)] <- ""
  s
}

## The metadata of each column: its type, and a factor's levels and whether it is ordered.
column_meta <- function(df) {
  lapply(setNames(names(df), names(df)), function(nm) {
    x <- df[[nm]]
    if (is.factor(x)) list(type = "factor", levels = levels(x), ordered = is.ordered(x))
    else if (is.integer(x)) list(type = "integer")
    else if (is.double(x)) list(type = "double")
    else if (is.logical(x)) list(type = "logical")
    else if (is.character(x)) list(type = "character")
    else stop("unsupported column type: ", nm)
  })
}

## Write a data frame as CSV with exact doubles (gzipped for a path ending in .gz);
## returns the column metadata.
write_exact_csv <- function(df, path) {
  meta <- column_meta(df)
  out <- df
  for (nm in names(df)) {
    if (meta[[nm]]$type == "factor") out[[nm]] <- as.character(df[[nm]])
    if (meta[[nm]]$type == "double") out[[nm]] <- format_double(df[[nm]])
  }
  con <- if (grepl("\\.gz$", path)) gzfile(path, "w") else file(path, "w")
  quoted <- which(vapply(meta, function(m) m$type %in% c("factor", "character"), TRUE))
  write.csv(out, con, row.names = FALSE, na = "", quote = if (length(quoted)) quoted else FALSE)
  close(con)
  meta
}

## Read a CSV written by write_exact_csv back with its metadata.
read_exact_csv <- function(path, meta) {
  classes <- vapply(meta, function(m) switch(m$type, factor = "character",
    integer = "integer", double = "numeric", logical = "logical",
    character = "character"), "")
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

