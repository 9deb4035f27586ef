-- The services recommended for a full joint inspection or a benchmark visit.
SELECT recommendation, rank, yjs_name, rank_low, rank_high, last_rating, reasons
FROM inspection_targets
WHERE recommendation <> 'monitor'
ORDER BY recommendation DESC, rank
