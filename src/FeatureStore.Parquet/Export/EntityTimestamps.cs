using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using FeatureStore.Parquet.Tables;

namespace FeatureStore.Parquet.Export;

/// <summary>The unit of epoch numbers in an entity table's <c>event_timestamp</c> (or an <c>--as-of</c>).</summary>
public enum TimestampUnit
{
    /// <summary>Told by magnitude: the one unit in which the number falls between 1980 and 2200.</summary>
    Auto,

    /// <summary>Seconds since 1970-01-01 UTC.</summary>
    Seconds,

    /// <summary>Milliseconds since 1970-01-01 UTC.</summary>
    Milliseconds,

    /// <summary>Microseconds since 1970-01-01 UTC.</summary>
    Microseconds,

    /// <summary>Nanoseconds since 1970-01-01 UTC.</summary>
    Nanoseconds,
}

/// <summary>
/// Reads the instants of an entity table (and the command line's <c>--as-of</c>): Parquet timestamps of any
/// unit, epoch numbers in a declared unit or told by magnitude, RFC 3339 text, and the form pandas writes
/// (<c>2026-12-06 21:50:00</c>, UTC unless it carries an offset). Epoch seconds read as milliseconds land in
/// January 1970 without a word; by magnitude each unit has its own span of plausible dates (1980–2200), the
/// spans are far apart, and a number in none of them is refused with a hint instead of guessed.
/// </summary>
public static partial class EntityTimestamps
{
    private const long EarliestSeconds = 315_532_800; // 1980-01-01
    private const long LatestSeconds = 7_258_118_400; // 2200-01-01

    private static readonly (TimestampUnit Unit, long PerSecond)[] Units =
        [(TimestampUnit.Seconds, 1), (TimestampUnit.Milliseconds, 1_000), (TimestampUnit.Microseconds, 1_000_000), (TimestampUnit.Nanoseconds, 1_000_000_000)];

    /// <summary>The option's spelling of a unit: <c>auto</c>, <c>s</c>, <c>ms</c>, <c>us</c>, <c>ns</c>.</summary>
    public static string Name(TimestampUnit unit) => unit switch
    {
        TimestampUnit.Seconds => "s",
        TimestampUnit.Milliseconds => "ms",
        TimestampUnit.Microseconds => "us",
        TimestampUnit.Nanoseconds => "ns",
        _ => "auto",
    };

    /// <summary>Reads a unit as the option spells it.</summary>
    public static bool TryParseUnit(string? text, out TimestampUnit unit)
    {
        unit = text?.Trim().ToLowerInvariant() switch
        {
            "auto" => TimestampUnit.Auto,
            "s" => TimestampUnit.Seconds,
            "ms" => TimestampUnit.Milliseconds,
            "us" or "µs" => TimestampUnit.Microseconds,
            "ns" => TimestampUnit.Nanoseconds,
            _ => (TimestampUnit)(-1),
        };
        return Enum.IsDefined(unit);
    }

    /// <summary>
    /// Reads one instant written as text: an epoch number (in <paramref name="unit"/>), RFC 3339, or
    /// <c>YYYY-MM-DD[ HH:MM[:SS[.fraction]]][offset]</c> (UTC without an offset). False with the reason otherwise.
    /// </summary>
    public static bool TryParse(string text, TimestampUnit unit, out long epochMs, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        if (long.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
        {
            return TryFromNumber(number, unit, out epochMs, out _, out problem);
        }

        if (Core.Events.Rfc3339.TryParse(Encoding.UTF8.GetBytes(trimmed), out epochMs) || TryParseDateTime(trimmed, out epochMs))
        {
            problem = null;
            return true;
        }

        problem = $"'{text}' is not an RFC 3339 time, a 'YYYY-MM-DD HH:MM:SS' time (UTC) or an epoch number";
        return false;
    }

    /// <summary>An epoch number in <paramref name="unit"/> as epoch ms, with the unit it was read in (told when auto).</summary>
    public static bool TryFromNumber(long number, TimestampUnit unit, out long epochMs, out TimestampUnit read, out string? problem)
    {
        epochMs = 0;
        problem = null;
        read = unit;
        if (unit == TimestampUnit.Auto)
        {
            read = (TimestampUnit)(-1);
            foreach (var (candidate, perSecond) in Units)
            {
                if (number >= EarliestSeconds * perSecond && number < LatestSeconds * perSecond)
                {
                    read = candidate;
                }
            }

            if (read == (TimestampUnit)(-1))
            {
                problem = $"'{number}' is no epoch time between 1980 and 2200 in seconds, milliseconds, microseconds or nanoseconds: declare its unit (--timestamp-unit s|ms|us|ns)";
                return false;
            }
        }

        var chosen = read;
        var per = Units.First(u => u.Unit == chosen).PerSecond;
        if (per >= 1000)
        {
            epochMs = FloorDivide(number, per / 1000);
            return true;
        }

        if (number > long.MaxValue / 1000 || number < long.MinValue / 1000)
        {
            problem = $"'{number}' seconds is out of range";
            return false;
        }

        epochMs = number * 1000;
        return true;
    }

    /// <summary>
    /// The rows' instants in epoch ms from <paramref name="file"/>'s <c>event_timestamp</c> column. Epoch numbers are
    /// read in <paramref name="unit"/>; by magnitude (<see cref="TimestampUnit.Auto"/>) every row must read in the same unit.
    /// </summary>
    /// <exception cref="TableFileException">A value is missing or cannot be read, with its row.</exception>
    internal static long[] Read(Table table, string file, TimestampUnit unit)
    {
        const string Column = PointInTimeJoin.TimestampColumn;
        var column = table.Find(Column)
            ?? throw new TableFileException($"{file}: no '{Column}' column (columns: {string.Join(", ", table.Columns.Select(c => c.Name))})");
        var result = new long[table.RowCount];
        TimestampUnit? seen = null;
        var seenRow = 0;
        for (var r = 0; r < result.Length; r++)
        {
            long? number = column.Values switch
            {
                long?[] l => l[r],
                int?[] i => i[r],
                double?[] d => d[r] is { } real ? (Math.Abs(real - Math.Round(real)) < 1e-9 && Math.Abs(real) < 9e18 ? (long)Math.Round(real)
                    : throw new TableFileException($"{file}: row {r + 1}, column {Column}: {real.ToString(CultureInfo.InvariantCulture)} is not a whole epoch number")) : null,
                string?[] s when long.TryParse(s[r], NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var parsed) => parsed,
                _ => null,
            };
            long? value;
            string? problem = null;
            if (number is { } n)
            {
                value = TryFromNumber(n, unit, out var ms, out var read, out problem) ? ms : null;
                if (value is not null && unit == TimestampUnit.Auto)
                {
                    if (seen is { } first && first != read)
                    {
                        throw new TableFileException($"{file}: row {r + 1}, column {Column}: {n} reads as epoch {Words(read)} but row {seenRow + 1} as epoch {Words(first)}: declare the unit (--timestamp-unit s|ms|us|ns)");
                    }

                    (seen, seenRow) = (read, r);
                }
            }
            else
            {
                value = column.Values switch
                {
                    DateTime?[] t => t[r] is { } time ? new DateTimeOffset(DateTime.SpecifyKind(time, time.Kind == DateTimeKind.Local ? DateTimeKind.Local : DateTimeKind.Utc)).ToUnixTimeMilliseconds() : null,
                    DateTimeOffset?[] o => o[r]?.ToUnixTimeMilliseconds(),
                    string?[] s => s[r] is { } text ? (TryParse(text, unit, out var ms, out problem) ? ms : null) : null,
                    long?[] or int?[] or double?[] => null,
                    _ => throw new TableFileException($"{file}: column {Column} must be a timestamp, epoch numbers or text (RFC 3339 or 'YYYY-MM-DD HH:MM:SS')"),
                };
            }

            if (problem is not null)
            {
                throw new TableFileException($"{file}: row {r + 1}, column {Column}: {problem}");
            }

            result[r] = value ?? throw new TableFileException($"{file}: row {r + 1}, column {Column}: empty");
        }

        return result;
    }

    private static string Words(TimestampUnit unit) => unit.ToString().ToLowerInvariant();

    private static long FloorDivide(long a, long b) => (a / b) - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);

    private static bool TryParseDateTime(string text, out long epochMs)
    {
        epochMs = 0;
        var match = DateTimePattern().Match(text);
        if (!match.Success)
        {
            return false;
        }

        int Part(string name) => match.Groups[name].Success ? int.Parse(match.Groups[name].Value, CultureInfo.InvariantCulture) : 0;
        var offset = TimeSpan.Zero;
        if (match.Groups["zone"].Success && match.Groups["zone"].Value is not ("Z" or "z"))
        {
            var zone = match.Groups["zone"].Value.Replace(":", "", StringComparison.Ordinal);
            offset = new TimeSpan(int.Parse(zone.AsSpan(1, 2), CultureInfo.InvariantCulture), int.Parse(zone.AsSpan(3, 2), CultureInfo.InvariantCulture), 0);
            offset = zone[0] == '-' ? -offset : offset;
        }

        try
        {
            var instant = new DateTimeOffset(Part("y"), Part("mo"), Part("d"), Part("h"), Part("mi"), Part("s"), offset);
            var fraction = match.Groups["f"].Success ? match.Groups["f"].Value.PadRight(3, '0')[..3] : "0";
            epochMs = instant.ToUnixTimeMilliseconds() + int.Parse(fraction, CultureInfo.InvariantCulture);
            return true;
        }
        catch (ArgumentOutOfRangeException)
        {
            return false; // 2026-02-30, hour 25…
        }
    }

    [GeneratedRegex(@"^(?<y>\d{4})-(?<mo>\d{2})-(?<d>\d{2})(?:[ T](?<h>\d{2}):(?<mi>\d{2})(?::(?<s>\d{2})(?:\.(?<f>\d{1,9}))?)?)?\s*(?<zone>[Zz]|[+-]\d{2}:?\d{2})?$", RegexOptions.CultureInvariant)]
    private static partial Regex DateTimePattern();
}
