using System.Text.Json;
using System.Text.Json.Nodes;
using FeatureStore.Core.Drift;
using FeatureStore.Monitor.Internal;

namespace FeatureStore.Monitor.Baselines;

/// <summary>
/// The training distribution of every monitored column of one model version, computed once and stored in
/// the online store, so monitoring needs no raw training data.
/// </summary>
/// <param name="Id">A content hash: <c>MODEL@VERSION#HEX</c>; alerts and history name it.</param>
/// <param name="Model">The model.</param>
/// <param name="Version">The model version.</param>
/// <param name="CreatedAtMs">When it was computed (epoch ms).</param>
/// <param name="Source">The file it was computed from.</param>
/// <param name="Columns">Per monitored column (as written in the monitor: a prediction field or <c>view:feature</c>).</param>
/// <param name="Format">The stored format: 2 keeps a numeric column's reference as distinct values and counts (format 1, without this field, kept a sample).</param>
public sealed record ModelBaseline(string Id, string Model, string Version, long CreatedAtMs, string Source, IReadOnlyDictionary<string, ColumnBaseline> Columns, int Format = ModelBaseline.CurrentFormat)
{
    /// <summary>The format this code writes.</summary>
    public const int CurrentFormat = 2;

    /// <summary>The baseline as stored (JSON).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, DriftJson.Options);

    /// <summary>
    /// Reads a stored baseline of any format: format 1 (before the <c>format</c> field) kept a numeric column's
    /// reference as <c>sample</c>, its sorted values (every training value up to 5 000, else 5 000 order
    /// statistics); it becomes distinct values and counts, sampled when the training count is larger.
    /// </summary>
    public static ModelBaseline FromJson(string json)
    {
        var root = JsonNode.Parse(json)?.AsObject() ?? throw new JsonException("a baseline is a JSON object");
        if (root["format"] is null)
        {
            foreach (var (_, column) in root["columns"] as JsonObject ?? new JsonObject())
            {
                if (column?["numeric"] is JsonObject numeric && numeric["sample"] is JsonArray sample)
                {
                    var values = sample.Select(v => v!.GetValue<double>()).ToArray();
                    Array.Sort(values);
                    var (distinct, counts) = BaselineBuilder.Distinct(values);
                    numeric.Remove("sample");
                    numeric["reference_values"] = JsonSerializer.SerializeToNode(distinct);
                    numeric["reference_counts"] = JsonSerializer.SerializeToNode(counts);
                    numeric["reference_sampled"] = numeric["count"]!.GetValue<long>() > values.Length;
                }
            }

            root["format"] = 1;
        }

        return root.Deserialize<ModelBaseline>(DriftJson.Options) ?? throw new JsonException("a baseline is a JSON object");
    }
}

/// <summary>One column's baseline: numeric or categorical, and the thresholds learned from the training data.</summary>
/// <param name="Column">The monitored column.</param>
/// <param name="Numeric">Bins, shares and reference of a numeric column.</param>
/// <param name="Categorical">Category shares of a text or boolean column.</param>
/// <param name="LearnedThresholds">Method name → mean + 3σ of the method over training chunks of the monitor's window size.</param>
/// <param name="NonFinite">A numeric column's NaN and infinite training values, left out of it.</param>
public sealed record ColumnBaseline(string Column, NumericBaseline? Numeric, CategoricalBaseline? Categorical, IReadOnlyDictionary<string, double> LearnedThresholds, NonFiniteCounts? NonFinite = null)
{
    /// <summary>A fresh, empty window against this baseline.</summary>
    public DriftWindow NewWindow() => Numeric is not null ? new NumericWindow(Numeric) : new CategoricalWindow(Categorical!);
}
