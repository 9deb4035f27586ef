-- Each service's rank at each as-of date beside its rank at the previous one:
-- the as-of before it in ranking_history (previous_as_of), whatever its date.
-- That is usually a month earlier, but a backfill or a skipped month leaves
-- other gaps (2026-12-02 after 2026-06-01).
CREATE OR REPLACE VIEW rank_changes AS
SELECT as_of, yjs_id, yjs_name, rank, recommendation,
       lag(rank) OVER (PARTITION BY yjs_id ORDER BY as_of) AS previous_rank,
       lag(rank) OVER (PARTITION BY yjs_id ORDER BY as_of) - rank AS places_up,
       lag(as_of) OVER (PARTITION BY yjs_id ORDER BY as_of) AS previous_as_of
FROM ranking_history
