namespace FeatureStore.Core.Events;

/// <summary>
/// A strict RFC 3339 date-time reader over UTF-8 (no allocation): <c>YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)</c>,
/// <c>T</c> or a space between date and time, fraction of any length (kept to the millisecond, truncated).
/// </summary>
public static class Rfc3339
{
    /// <summary>Ticks from 0001-01-01 to the Unix epoch.</summary>
    private const long EpochTicks = 621_355_968_000_000_000;

    /// <summary>Reads <paramref name="text"/> as a UTC instant in epoch milliseconds.</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out long epochMillis)
    {
        epochMillis = 0;
        if (text.Length < 20
            || !Digits(text, 0, 4, out var year) || text[4] != '-'
            || !Digits(text, 5, 2, out var month) || text[7] != '-'
            || !Digits(text, 8, 2, out var day)
            || (text[10] is not (byte)'T' and not (byte)'t' and not (byte)' ')
            || !Digits(text, 11, 2, out var hour) || text[13] != ':'
            || !Digits(text, 14, 2, out var minute) || text[16] != ':'
            || !Digits(text, 17, 2, out var second))
        {
            return false;
        }

        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)
            || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }

        var i = 19;
        var millis = 0;
        if (text[i] == '.')
        {
            i++;
            var start = i;
            while (i < text.Length && IsDigit(text[i]))
            {
                if (i - start < 3)
                {
                    millis = (millis * 10) + (text[i] - '0');
                }

                i++;
            }

            var digits = i - start;
            if (digits == 0)
            {
                return false;
            }

            for (var pad = digits; pad < 3; pad++)
            {
                millis *= 10;
            }
        }

        if (i >= text.Length)
        {
            return false;
        }

        long offsetMinutes;
        if (text[i] is (byte)'Z' or (byte)'z')
        {
            offsetMinutes = 0;
            i++;
        }
        else if (text[i] is (byte)'+' or (byte)'-')
        {
            var sign = text[i] == '-' ? -1 : 1;
            if (text.Length - i != 6 || !Digits(text, i + 1, 2, out var oh) || text[i + 3] != ':' || !Digits(text, i + 4, 2, out var om) || oh > 23 || om > 59)
            {
                return false;
            }

            offsetMinutes = sign * ((oh * 60) + om);
            i += 6;
        }
        else
        {
            return false;
        }

        if (i != text.Length)
        {
            return false;
        }

        var local = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified).Ticks;
        var utcMillis = ((local - EpochTicks) / TimeSpan.TicksPerMillisecond) + millis - (offsetMinutes * 60_000);
        epochMillis = utcMillis;
        return true;
    }

    /// <summary>Formats epoch milliseconds as <c>YYYY-MM-DDThh:mm:ss.fffZ</c>.</summary>
    public static string Format(long epochMillis) =>
        DateTimeOffset.FromUnixTimeMilliseconds(epochMillis).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private static bool IsDigit(byte b) => (uint)(b - '0') <= 9;

    private static bool Digits(ReadOnlySpan<byte> text, int start, int count, out int value)
    {
        value = 0;
        for (var k = start; k < start + count; k++)
        {
            if (!IsDigit(text[k]))
            {
                return false;
            }

            value = (value * 10) + (text[k] - '0');
        }

        return true;
    }
}
