-- The top 10 of the latest ranked list, with the reasons in plain English.
SELECT rank, yjs_name, recommendation, round(concern_score, 2) AS concern_score,
       rank_low, rank_high, last_rating, months_since_inspection, reasons
FROM inspection_targets
ORDER BY rank
LIMIT 10
