using FeatureStore.Contracts.V1;

namespace FeatureStore.Client;

/// <summary>
/// The answer of an online lookup: one row per entity asked for (in order), one value per feature
/// reference, each with its status and event time; typed accessors return null unless the value is present.
/// </summary>
public sealed class OnlineFeatureSet
{
    private readonly Dictionary<string, int> _columns;

    /// <summary>Wraps a response.</summary>
    public OnlineFeatureSet(GetOnlineFeaturesResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        Response = response;
        _columns = new Dictionary<string, int>(response.FeatureNames.Count, StringComparer.Ordinal);
        for (var i = 0; i < response.FeatureNames.Count; i++)
        {
            _columns.TryAdd(response.FeatureNames[i], i);
        }
    }

    /// <summary>The response as received.</summary>
    public GetOnlineFeaturesResponse Response { get; }

    /// <summary>The feature references (<c>view:feature</c>), in column order.</summary>
    public IReadOnlyList<string> FeatureNames => Response.FeatureNames;

    /// <summary>Number of rows (entities).</summary>
    public int RowCount => Response.Rows.Count;

    /// <summary>The instant the values were evaluated at.</summary>
    public DateTimeOffset EvaluatedAt => Response.EvaluatedAt.ToDateTimeOffset();

    /// <summary>The value of <paramref name="feature"/> (<c>view:feature</c>) in row <paramref name="row"/>.</summary>
    public FeatureValue this[int row, string feature] => Response.Rows[row].Values[Column(feature)];

    /// <summary>The number, or null when not present (count and approx_distinct read as doubles too).</summary>
    public double? GetDouble(int row, string feature)
    {
        var value = this[row, feature];
        return value.Status != FeatureStatus.Present ? null
            : value.ValueCase switch
            {
                FeatureValue.ValueOneofCase.DoubleValue => value.DoubleValue,
                FeatureValue.ValueOneofCase.Int64Value => value.Int64Value,
                _ => null,
            };
    }

    /// <summary>The integer (count, approx_distinct), or null when not present.</summary>
    public long? GetInt64(int row, string feature)
    {
        var value = this[row, feature];
        return value.Status == FeatureStatus.Present && value.ValueCase == FeatureValue.ValueOneofCase.Int64Value ? value.Int64Value : null;
    }

    /// <summary>The text (last of a string field), or null when not present.</summary>
    public string? GetString(int row, string feature)
    {
        var value = this[row, feature];
        return value.Status == FeatureStatus.Present && value.ValueCase == FeatureValue.ValueOneofCase.StringValue ? value.StringValue : null;
    }

    private int Column(string feature) =>
        _columns.TryGetValue(feature, out var index) ? index
        : throw new KeyNotFoundException($"'{feature}' was not asked for (columns: {string.Join(", ", Response.FeatureNames)})");
}
