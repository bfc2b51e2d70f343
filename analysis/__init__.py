"""Post-hoc analysis of tailsweep sweeps: MLflow runs (or an exported bundle) -> tables, curves,
statistics, figures and an HTML report. Never imports Ray or the sweep package.

Public API (import from the submodules; this package imports nothing, so the CLI stays fast):
    analysis.load      load_sweep(tracking_uri, experiment) -> SweepData, load_runs(...) -> DataFrame
    analysis.bundle    write_bundle(data, DIR), load_bundle(DIR) -> SweepData
    analysis.options   AnalysisOptions (every choice, fixed before looking at data), resolve_options
    analysis.curves    alpha_vs_eta, layer_points, error_points, width_curves, with_reference,
                       width_slopes (error_slopes, prunable_slopes), accuracy_points, gap_points,
                       alpha_trajectories
    analysis.prepared  prepare(data, options) -> Prepared: the frames tables and claims share, built once
    analysis.stats     spearman / kendall / within_slope with cluster-bootstrap Estimates
    analysis.claims    claims_table(prepared), correlations_table(prepared), verdict (the fixed rule)
    analysis.reference StableReference: the i.i.d. symmetric alpha-stable pruning reference
    analysis.plots     DataFrame -> matplotlib Figure
    analysis.report    write_report(data, DIR) -> path of index.html
"""
