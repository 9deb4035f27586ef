-- Recommendations and the mean concern score per region. A service's region is
-- the services lookup's; where the lookup gives none, a Welsh service is in
-- 'Wales' (ONS lists Wales among the regions of England and Wales) and an
-- English one shows as '(no region given)'. The real lookup
-- (la_to_yjs_crosswalk_2024.csv) has no region column, so on it every English
-- service is '(no region given)'.
SELECT coalesce(region, '(no region given)') AS region,
       count(*) AS services,
       count(*) FILTER (WHERE recommendation = 'full_joint_inspection') AS full_joint_inspection,
       count(*) FILTER (WHERE recommendation = 'benchmark_visit') AS benchmark_visit,
       round(avg(concern_score), 2) AS mean_concern_score,
       min(rank) AS best_rank
FROM service_profile
GROUP BY ALL
ORDER BY mean_concern_score DESC
