-- Recommendations and the mean concern score per region.
SELECT region,
       count(*) AS services,
       count(*) FILTER (WHERE recommendation = 'full_joint_inspection') AS full_joint_inspection,
       count(*) FILTER (WHERE recommendation = 'benchmark_visit') AS benchmark_visit,
       round(avg(concern_score), 2) AS mean_concern_score,
       min(rank) AS best_rank
FROM service_profile
GROUP BY region
ORDER BY mean_concern_score DESC
