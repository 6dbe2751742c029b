using System.Globalization;
using System.Text;

namespace FeatureStore.Bench.Harness;

/// <summary>Prints the results as a Markdown table, ready for docs/benchmarks.md.</summary>
internal static class ResultTable
{
    public static string ToMarkdown(IEnumerable<ResultRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| scenario | metric | median | baseline | baseline median | ratio |");
        sb.AppendLine("| --- | --- | ---: | --- | ---: | ---: |");
        foreach (var r in rows)
        {
            sb.Append(CultureInfo.InvariantCulture, $"| {r.Scenario} | {r.Metric} | {Format(r.Median)} {r.Unit} | {r.Baseline ?? "—"} | ");
            sb.Append(r.BaselineMedian is { } b ? $"{Format(b)} {r.Unit}" : "—");
            sb.Append(" | ");
            sb.Append(r.Ratio is { } ratio ? ratio.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "—");
            sb.AppendLine(" |");
        }

        return sb.ToString();
    }

    private static string Format(double value) => value switch
    {
        >= 1_000_000 => (value / 1_000_000).ToString("0.00", CultureInfo.InvariantCulture) + "M",
        >= 10_000 => (value / 1_000).ToString("0.0", CultureInfo.InvariantCulture) + "k",
        >= 100 => value.ToString("0", CultureInfo.InvariantCulture),
        _ => value.ToString("0.###", CultureInfo.InvariantCulture),
    };
}
