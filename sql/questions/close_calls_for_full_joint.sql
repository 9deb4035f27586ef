-- Eligible services whose place among the full joint picks is uncertain:
-- among the picks in 25% to 75% of simulations of the scores (p_full_joint).
-- Picks follow the scores themselves, so one passed over can have the higher share.
SELECT rank, yjs_name, recommendation, round(concern_score, 2) AS concern_score,
       round(100 * p_full_joint) AS pct_of_simulations_among_picks
FROM inspection_targets
WHERE p_full_joint >= 0.25 AND p_full_joint < 0.75
ORDER BY rank
