-- Each service's rank at each as-of date beside its rank at the previous one.
CREATE OR REPLACE VIEW rank_changes AS
SELECT as_of, yjs_id, yjs_name, rank, recommendation,
       lag(rank) OVER (PARTITION BY yjs_id ORDER BY as_of) AS previous_rank,
       lag(rank) OVER (PARTITION BY yjs_id ORDER BY as_of) - rank AS places_up
FROM ranking_history
