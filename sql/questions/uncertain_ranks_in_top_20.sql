-- Services in the top 20 whose 90% rank interval is wide (over 20 places):
-- their position is least certain.
SELECT rank, yjs_name, recommendation, rank_low, rank_high, rank_high - rank_low AS interval_width
FROM inspection_targets
WHERE rank <= 20 AND rank_high - rank_low > 20
ORDER BY interval_width DESC
