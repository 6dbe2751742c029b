using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Monitor.Baselines;

/// <summary>One-shot drift: a stored baseline against every row of a Parquet or CSV file.</summary>
public static class DriftReport
{
    /// <summary>
    /// Every monitored column of the file as one window against <paramref name="baseline"/>; each column is read
    /// as the baseline's kind (numeric or categorical), whatever the data holds.
    /// </summary>
    public static async Task<DriftSummary> ComputeAsync(ModelDefinition model, ModelBaseline baseline, string path, bool useLearned, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(baseline);
        var kinds = new Dictionary<string, ColumnKind?>(StringComparer.Ordinal);
        foreach (var monitor in model.Monitors)
        {
            if (!baseline.Columns.TryGetValue(monitor.Column, out var column))
            {
                throw new BaselineException($"baseline {baseline.Id} has no column '{monitor.Column}': compute the baseline again");
            }

            kinds[monitor.Column] = column.Numeric is not null ? ColumnKind.Numeric : ColumnKind.Categorical;
        }

        var table = await BaselineComputer.ReadMonitoredAsync(model, path, kinds, cancellationToken).ConfigureAwait(false);
        var evaluations = new List<DriftEvaluation>();
        foreach (var monitor in model.Monitors)
        {
            var column = baseline.Columns[monitor.Column];
            var data = BaselineComputer.Find(table.Columns, monitor.Column)
                ?? throw new BaselineException($"{path}: no column '{MonitorColumns.TableName(monitor.Column)}' for monitor '{monitor.Column}'");
            var window = column.NewWindow();
            Fill(window, data);
            evaluations.Add(DriftEvaluation.Of(baseline, monitor, column, window, 0, 0, useLearned));
        }

        return DriftSummary.Of(baseline, evaluations);
    }

    private static void Fill(DriftWindow window, ValueColumn data)
    {
        switch (window)
        {
            case NumericWindow numeric when data.Numbers is not null:
                foreach (var v in data.Numbers)
                {
                    numeric.Add(v);
                }

                // The non-finite values, counted by the window as the monitor job's are.
                var nonFinite = data.NonFinite ?? NonFiniteCounts.None;
                for (var i = 0L; i < nonFinite.Nan; i++)
                {
                    numeric.Add(double.NaN);
                }

                for (var i = 0L; i < nonFinite.PositiveInfinity; i++)
                {
                    numeric.Add(double.PositiveInfinity);
                }

                for (var i = 0L; i < nonFinite.NegativeInfinity; i++)
                {
                    numeric.Add(double.NegativeInfinity);
                }

                break;
            case CategoricalWindow categorical when data.Texts is not null:
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
