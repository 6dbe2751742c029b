using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Internal;

namespace FeatureStore.Monitor.Baselines;

/// <summary>One-shot drift: a stored baseline against every row of a Parquet or CSV file.</summary>
public static class DriftReport
{
    /// <summary>Every monitored column of the file as one window against <paramref name="baseline"/>.</summary>
    public static async Task<DriftSummary> ComputeAsync(ModelDefinition model, ModelBaseline baseline, string path, bool useLearned, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(baseline);
        var table = await BaselineComputer.ReadMonitoredAsync(model, path, cancellationToken).ConfigureAwait(false);

        var evaluations = new List<DriftEvaluation>();
        foreach (var monitor in model.Monitors)
        {
            if (!baseline.Columns.TryGetValue(monitor.Column, out var column))
            {
                throw new BaselineException($"baseline {baseline.Id} has no column '{monitor.Column}': compute the baseline again");
            }

            var data = BaselineComputer.Find(table, monitor.Column)
                ?? throw new BaselineException($"{path}: no column '{MonitorColumns.TableName(monitor.Column)}' for monitor '{monitor.Column}'");
            var window = column.NewWindow();
            Fill(window, data);
            evaluations.Add(DriftEvaluation.Of(baseline, monitor, column, window, 0, 0, useLearned));
        }

        return DriftSummary.Of(baseline, evaluations);
    }

    private static void Fill(Core.Drift.DriftWindow window, TableColumn data)
    {
        switch (window)
        {
            case Core.Drift.NumericWindow numeric when data.Numbers is not null:
                foreach (var v in data.Numbers)
                {
                    numeric.Add(v);
                }

                break;
            case Core.Drift.CategoricalWindow categorical when data.Texts is not null:
                foreach (var v in data.Texts)
                {
                    categorical.Add(v);
                }

                break;
            default:
                throw new BaselineException($"column '{data.Name}' is {(data.Numbers is null ? "text" : "numeric")} but its baseline is not");
        }
    }
}
