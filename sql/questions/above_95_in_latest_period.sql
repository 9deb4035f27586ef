-- How many services sit above (worse) and below (better) the 95% limits in
-- the latest period of each indicator.
SELECT indicator, max(period_end) AS period_end,
       count(*) FILTER (WHERE funnel_band IN ('high_95', 'high_99.8')) AS worse_than_national,
       count(*) FILTER (WHERE funnel_band = 'within') AS within_limits,
       count(*) FILTER (WHERE funnel_band IN ('low_95', 'low_99.8')) AS better_than_national,
       count(*) FILTER (WHERE funnel_band IS NULL) AS no_figure
FROM latest_indicators
GROUP BY indicator
ORDER BY indicator
