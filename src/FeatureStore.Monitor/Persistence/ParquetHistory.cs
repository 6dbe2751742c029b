using FeatureStore.Core.Drift;
using FeatureStore.Monitor.Baselines;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Monitor.Persistence;

/// <summary>
/// The whole drift history as Parquet (the online store keeps the newest 10 000 windows per version): each
/// batch of evaluated windows becomes one file per model version,
/// <c>DIR/MODEL/VERSION/date=YYYY-MM-DD/windows-START-END-ID.parquet</c> (dated by window end), one row per
/// window, column and method, with the window's verdict (a window with insufficient data: one row, no method) and
/// segment (null for the whole column). Written to a temporary name, then renamed, so a reader never sees half a file.
/// </summary>
public sealed class ParquetHistory(string directory)
{
    private static readonly DataField Model = new("model", typeof(string), isNullable: true);
    private static readonly DataField Version = new("version", typeof(string), isNullable: true);
    private static readonly DataField Column = new("column", typeof(string), isNullable: true);
    private static readonly DataField BaselineId = new("baseline_id", typeof(string), isNullable: true);
    private static readonly DataField WindowStart = new("window_start_ms", typeof(long), isNullable: true);
    private static readonly DataField WindowEnd = new("window_end_ms", typeof(long), isNullable: true);
    private static readonly DataField Count = new("count", typeof(long), isNullable: true);
    private static readonly DataField Method = new("method", typeof(string), isNullable: true);
    private static readonly DataField Value = new("value", typeof(double), isNullable: true);
    private static readonly DataField Statistic = new("statistic", typeof(double), isNullable: true);
    private static readonly DataField Threshold = new("threshold", typeof(double), isNullable: true);
    private static readonly DataField Drifted = new("drifted", typeof(bool), isNullable: true);
    private static readonly DataField Verdict = new("verdict", typeof(string), isNullable: true);
    private static readonly DataField Segment = new("segment", typeof(string), isNullable: true);
    private static readonly ParquetSchema Schema = new(Model, Version, Column, BaselineId, WindowStart, WindowEnd, Count, Method, Value, Statistic, Threshold, Drifted, Verdict, Segment);

    /// <summary>The folder the history is written under.</summary>
    public string Directory { get; } = directory ?? throw new ArgumentNullException(nameof(directory));

    /// <summary>Appends <paramref name="evaluations"/>: one file per model version and day.</summary>
    public async Task AppendAsync(IReadOnlyList<DriftEvaluation> evaluations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evaluations);
        foreach (var group in evaluations.GroupBy(e => (e.Model, e.Version, Day: DateTimeOffset.FromUnixTimeMilliseconds(e.WindowEndMs).UtcDateTime.Date)))
        {
            // A window with insufficient data has no method: one row says so, its method and values null.
            var rows = group.SelectMany(e => e.Results.Count == 0 ? new[] { (Evaluation: e, Result: (DriftResult?)null) } : e.Results.Select(r => (Evaluation: e, Result: (DriftResult?)r))).ToList();
            if (rows.Count == 0)
            {
                continue;
            }

            var folder = Path.Combine(Directory, group.Key.Model, group.Key.Version, $"date={group.Key.Day:yyyy-MM-dd}");
            System.IO.Directory.CreateDirectory(folder);
            var name = $"windows-{group.Min(e => e.WindowStartMs)}-{group.Max(e => e.WindowEndMs)}-{Guid.NewGuid().ToString("N")[..8]}.parquet";
            var temp = Path.Combine(folder, ".tmp-" + name);
            try
            {
                await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, useAsync: true))
                {
                    await using var writer = await ParquetWriter.CreateAsync(Schema, stream, cancellationToken: cancellationToken).ConfigureAwait(false);
                    using var rowGroup = writer.CreateRowGroup();
                    await rowGroup.WriteAsync(Model, new ArraySegment<string?>(Values<string?>(rows, r => r.Evaluation.Model))).ConfigureAwait(false);
                    await rowGroup.WriteAsync(Version, new ArraySegment<string?>(Values<string?>(rows, r => r.Evaluation.Version))).ConfigureAwait(false);
                    await rowGroup.WriteAsync(Column, new ArraySegment<string?>(Values<string?>(rows, r => r.Evaluation.Column))).ConfigureAwait(false);
                    await rowGroup.WriteAsync(BaselineId, new ArraySegment<string?>(Values<string?>(rows, r => r.Evaluation.BaselineId))).ConfigureAwait(false);
                    await rowGroup.WriteAsync<long>(WindowStart, Values<long?>(rows, r => r.Evaluation.WindowStartMs), cancellationToken: cancellationToken).ConfigureAwait(false);
                    await rowGroup.WriteAsync<long>(WindowEnd, Values<long?>(rows, r => r.Evaluation.WindowEndMs), cancellationToken: cancellationToken).ConfigureAwait(false);
                    await rowGroup.WriteAsync<long>(Count, Values<long?>(rows, r => r.Evaluation.Count), cancellationToken: cancellationToken).ConfigureAwait(false);
                    await rowGroup.WriteAsync(Method, new ArraySegment<string?>(Values<string?>(rows, r => r.Result is { } result ? DriftDefaults.Name(result.Method) : null))).ConfigureAwait(false);
                    await rowGroup.WriteAsync<double>(Value, Values<double?>(rows, r => r.Result?.Value), cancellationToken: cancellationToken).ConfigureAwait(false);
                    await rowGroup.WriteAsync<double>(Statistic, Values<double?>(rows, r => r.Result?.Statistic), cancellationToken: cancellationToken).ConfigureAwait(false);
                    await rowGroup.WriteAsync<double>(Threshold, Values<double?>(rows, r => r.Result?.Threshold), cancellationToken: cancellationToken).ConfigureAwait(false);
                    await rowGroup.WriteAsync<bool>(Drifted, Values<bool?>(rows, r => r.Result?.Drifted ?? false), cancellationToken: cancellationToken).ConfigureAwait(false);
                    await rowGroup.WriteAsync(Verdict, new ArraySegment<string?>(Values<string?>(rows, r => VerdictName(r.Evaluation.Verdict)))).ConfigureAwait(false);
                    await rowGroup.WriteAsync(Segment, new ArraySegment<string?>(Values<string?>(rows, r => r.Evaluation.Segment))).ConfigureAwait(false);
                }

                File.Move(temp, Path.Combine(folder, name));
            }
            finally
            {
                if (File.Exists(temp))
                {
                    File.Delete(temp);
                }
            }
        }
    }

    private static T[] Values<T>(List<(DriftEvaluation Evaluation, DriftResult? Result)> rows, Func<(DriftEvaluation Evaluation, DriftResult? Result), T> select) =>
        [.. rows.Select(select)];

    private static string VerdictName(DriftVerdict verdict) => verdict switch
    {
        DriftVerdict.Drifted => "drifted",
        DriftVerdict.InsufficientData => "insufficient_data",
        _ => "no_drift",
    };
}
