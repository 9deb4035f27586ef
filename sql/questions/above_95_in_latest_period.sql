-- How many services sit above (worse) and below (better) the 95% limits in
-- the latest period of each indicator compared with national (a later one with no
-- national rate, one service's own, has no limits to sit above). A service without a
-- figure for that period (suppressed, or not yet reported) counts under no_figure, not
-- by an older period of its own (the view latest_indicators has those).
WITH latest AS (
    SELECT indicator, max(period_end) AS period_end FROM indicator_values
    WHERE national_rate IS NOT NULL GROUP BY indicator
), figures AS (
    SELECT iv.* FROM indicator_values AS iv JOIN latest USING (indicator, period_end)
    WHERE iv.national_rate IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY iv.yjs_id, iv.indicator ORDER BY iv.period_months DESC) = 1
)
SELECT l.indicator, l.period_end,
       count(*) FILTER (WHERE f.funnel_band IN ('high_95', 'high_99.8')) AS worse_than_national,
       count(*) FILTER (WHERE f.funnel_band = 'within') AS within_limits,
       count(*) FILTER (WHERE f.funnel_band IN ('low_95', 'low_99.8')) AS better_than_national,
       count(*) FILTER (WHERE f.funnel_band IS NULL) AS no_figure
FROM latest AS l
CROSS JOIN services AS s
LEFT JOIN figures AS f ON f.indicator = l.indicator AND f.yjs_id = s.yjs_id
GROUP BY l.indicator, l.period_end
ORDER BY l.indicator
