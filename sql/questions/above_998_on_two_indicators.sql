-- Services above the 99.8% control limit (worse than national) on at least
-- two indicators in their latest periods.
SELECT yjs_name,
       count(*) AS indicators_above_998,
       string_agg(indicator || ' ' || round(rate, 2) || ' vs ' || round(national_rate, 2), '; '
                  ORDER BY indicator) AS figures
FROM latest_indicators
WHERE funnel_band = 'high_99.8'
GROUP BY yjs_name
HAVING count(*) >= 2
ORDER BY indicators_above_998 DESC, yjs_name
