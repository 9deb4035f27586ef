-- Input rows that were not used, by source, file and problem.
SELECT source, file, problem, count(*) AS rows, min(row_number) AS first_row
FROM quarantine
GROUP BY ALL
ORDER BY rows DESC, source, file
