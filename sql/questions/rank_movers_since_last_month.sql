-- The biggest movers in rank between the published ranked list and the one
-- before it (places_up > 0: moved towards the top, i.e. more concern).
-- The published list's as-of, not ranking_history's latest: that may be a
-- list dated after today that a refresh as of today has since replaced.
-- "The one before" is the previous as-of in ranking_history, whatever its date
-- (previous_as_of): usually last month's list, but after a gap, or a backfill
-- of an earlier month, it can be months before (2026-12-02 against 2026-06-01).
SELECT as_of, previous_as_of, yjs_name, previous_rank, rank, places_up, recommendation
FROM rank_changes
WHERE as_of = (SELECT max(as_of) FROM inspection_targets)
  AND previous_rank IS NOT NULL
ORDER BY abs(places_up) DESC, rank
LIMIT 15
