-- The biggest movers in rank between the latest ranked list and the one
-- before it (places_up > 0: moved towards the top, i.e. more concern).
SELECT as_of, yjs_name, previous_rank, rank, places_up, recommendation
FROM rank_changes
WHERE as_of = (SELECT max(as_of) FROM ranking_history)
  AND previous_rank IS NOT NULL
ORDER BY abs(places_up) DESC, rank
LIMIT 15
