using System.Globalization;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Client;

/// <summary>
/// Request context values as a lookup sends them (<c>EntityRow.request_context</c>, docs/request-features.md):
/// numbers, text, flags, instants (sent as RFC 3339 text) and null.
/// </summary>
public static class RequestContext
{
    /// <summary>
    /// The wire value of <paramref name="value"/>: a number (any .NET numeric type), a string, a bool, a
    /// <see cref="DateTimeOffset"/> or UTC <see cref="DateTime"/> (RFC 3339 text), or null. Other types throw
    /// <see cref="ArgumentException"/>.
    /// </summary>
    public static Value ToValue(object? value) => value switch
    {
        null => Value.ForNull(),
        Value v => v,
        string s => Value.ForString(s),
        bool b => Value.ForBool(b),
        double d => Value.ForNumber(d),
        float f => Value.ForNumber(f),
        int i => Value.ForNumber(i),
        long l => Value.ForNumber(l),
        short h => Value.ForNumber(h),
        decimal m => Value.ForNumber((double)m),
        DateTimeOffset t => Value.ForString(Rfc3339(t)),
        DateTime { Kind: DateTimeKind.Utc } t => Value.ForString(Rfc3339(new DateTimeOffset(t))),
        DateTime => throw new ArgumentException("a DateTime request context value must be UTC (DateTimeKind.Utc), or give a DateTimeOffset", nameof(value)),
        _ => throw new ArgumentException($"a request context value is a number, string, bool, DateTimeOffset or null, not {value.GetType().Name}", nameof(value)),
    };

    /// <summary>
    /// The value of a <c>name=value</c> text as the command line writes it: <c>null</c>, <c>true</c>/<c>false</c>, a
    /// number, text in double quotes (text that would otherwise read as a number: <c>"123"</c>), or any other text.
    /// </summary>
    public static Value Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text switch
        {
            "null" => Value.ForNull(),
            "true" => Value.ForBool(true),
            "false" => Value.ForBool(false),
            ['"', .. var inner, '"'] => Value.ForString(inner),
            _ when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) => Value.ForNumber(number),
            _ => Value.ForString(text),
        };
    }

    private static string Rfc3339(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
