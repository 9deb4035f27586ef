-- Services worse than national (above the 95% limit) on the pooled recent
-- evidence of at least one indicator, most indicators first.
SELECT s.yjs_name,
       count(*) AS indicators_worse,
       count(*) FILTER (WHERE e.band = 'high_99.8') AS above_998,
       string_agg(e.indicator || ' z ' || round(e.z, 1), '; ' ORDER BY e.z DESC) AS evidence,
       t.rank, t.recommendation
FROM indicator_evidence AS e
JOIN services AS s USING (yjs_id)
JOIN inspection_targets AS t USING (yjs_id)
WHERE e.band IN ('high_95', 'high_99.8')
GROUP BY s.yjs_name, t.rank, t.recommendation
ORDER BY indicators_worse DESC, above_998 DESC, t.rank
