using System.Globalization;

namespace FeatureStore.Core.Definitions;

/// <summary>
/// Durations as the repository file writes them: one or more number-unit pairs, largest unit first, with
/// units <c>d</c>, <c>h</c>, <c>m</c>, <c>s</c>, <c>ms</c> — <c>250ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>,
/// <c>7d</c>, <c>1d12h</c>.
/// </summary>
public static class Duration
{
    /// <summary>
    /// The longest duration read: the whole days of <see cref="TimeSpan.MaxValue"/> (10675199d, about 29 000
    /// years), so every duration converts to a <see cref="TimeSpan"/> and sums of times stay far from overflow.
    /// </summary>
    public const long MaxMilliseconds = 10_675_199L * 86_400_000;

    private static readonly (string Unit, long Ms)[] Units = [("d", 86_400_000), ("h", 3_600_000), ("ms", 1), ("m", 60_000), ("s", 1000)];

    /// <summary>Reads <paramref name="text"/>; false (with a hint) when it is not a duration.</summary>
    public static bool TryParse(string? text, out long milliseconds, out string? hint)
    {
        milliseconds = 0;
        hint = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            hint = "write a duration such as 5m, 1h or 7d";
            return false;
        }

        var s = text.Trim();
        var i = 0;
        var lastRank = -1;
        long total = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }

            if (i == start)
            {
                hint = Suggest(s);
                return false;
            }

            // More digits than a long holds is out of range too (checked below once the unit is known).
            var number = long.TryParse(s.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : long.MaxValue;
            var rank = -1;
            for (var u = 0; u < Units.Length; u++)
            {
                if (string.CompareOrdinal(s, i, Units[u].Unit, 0, Units[u].Unit.Length) == 0
                    && !(Units[u].Unit == "m" && i + 1 < s.Length && s[i + 1] == 's'))
                {
                    rank = u;
                    break;
                }
            }

            if (rank < 0)
            {
                hint = Suggest(s);
                return false;
            }

            var order = Array.IndexOf(["d", "h", "m", "s", "ms"], Units[rank].Unit);
            if (order <= lastRank)
            {
                hint = "write units largest first, each once, e.g. 1h30m";
                return false;
            }

            lastRank = order;
            i += Units[rank].Unit.Length;
            if (number > (MaxMilliseconds - total) / Units[rank].Ms)
            {
                hint = TooLong;
                return false;
            }

            total += number * Units[rank].Ms;
        }

        milliseconds = total;
        return true;
    }

    /// <summary>Formats milliseconds the way <see cref="TryParse"/> reads them (<c>1d12h</c>, <c>250ms</c>).</summary>
    public static string Format(long milliseconds)
    {
        if (milliseconds == 0)
        {
            return "0s";
        }

        var parts = new System.Text.StringBuilder();
        var rest = milliseconds;
        foreach (var (unit, ms) in new[] { ("d", 86_400_000L), ("h", 3_600_000L), ("m", 60_000L), ("s", 1000L), ("ms", 1L) })
        {
            if (rest >= ms)
            {
                parts.Append(CultureInfo.InvariantCulture, $"{rest / ms}{unit}");
                rest %= ms;
            }
        }

        return parts.ToString();
    }

    private static string TooLong => $"too long: the longest duration is {Format(MaxMilliseconds)}";

    private static string Suggest(string text)
    {
        // "5 minutes" -> "5m", "2 hours" -> "2h": take the number and the unit's first letter.
        var digits = new string([.. text.TakeWhile(c => char.IsAsciiDigit(c) || c == ' ')]).Trim();
        var word = text[digits.Length..].Trim().ToLowerInvariant();
        var unit = word.StartsWith("ms", StringComparison.Ordinal) || word.StartsWith("milli", StringComparison.Ordinal) ? "ms"
            : word.StartsWith('d') ? "d" : word.StartsWith('h') ? "h" : word.StartsWith('s') ? "s" : word.StartsWith('m') ? "m" : null;
        return digits.Length > 0 && !digits.Contains('-', StringComparison.Ordinal) && unit is not null
            ? $"write {digits.Replace(" ", "", StringComparison.Ordinal)}{unit}"
            : "write a duration such as 5m, 1h or 7d (units: d, h, m, s, ms)";
    }
}
