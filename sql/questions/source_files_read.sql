-- The input files the published warehouse was built from, with checksums.
SELECT source, file, rows, sha256, ingested_at
FROM source_files
ORDER BY source, file
