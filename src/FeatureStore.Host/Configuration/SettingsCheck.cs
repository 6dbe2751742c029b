using System.Globalization;
using System.Reflection;
using FeatureStore.Core.Definitions;
using Microsoft.Extensions.Configuration;

namespace FeatureStore.Host.Configuration;

/// <summary>
/// Checks configuration entries against the shape of <see cref="HostSettings"/> before they are bound: a key
/// no setting has (a typo would otherwise be ignored silently) and a value its setting cannot take (the
/// binder's own message names a CLR type), each said with the key, the value and what to write instead.
/// </summary>
internal static class SettingsCheck
{
    /// <summary>
    /// The problems of <paramref name="entries"/>, one line each. <paramref name="name"/> shows a key as the user
    /// wrote it; <paramref name="keyWhere"/> and <paramref name="valueWhere"/> give the position of a key and of
    /// its value as a prefix; unknown keys are reported only when <paramref name="unknownKeys"/> (the environment
    /// holds other programs' and other commands' variables).
    /// </summary>
    public static List<string> Problems(
        IEnumerable<(string Key, string? Value)> entries, Func<string, string> keyWhere, Func<string, string> valueWhere, Func<string, string> name, bool unknownKeys)
    {
        var problems = new List<string>();
        var reported = new HashSet<string>(StringComparer.OrdinalIgnoreCase); // a misspelt section is said once, not once per key in it
        foreach (var (key, value) in entries)
        {
            var segments = key.Split(ConfigurationPath.KeyDelimiter);
            var type = typeof(HostSettings);
            for (var i = 0; i < segments.Length; i++)
            {
                if (IsDictionary(type))
                {
                    type = typeof(string); // free-form settings (kafka.settings): any key
                    break;
                }

                if (IsList(type, out var item))
                {
                    if (!int.TryParse(segments[i], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    {
                        if (unknownKeys && reported.Add(Prefix(segments, i)))
                        {
                            problems.Add($"{keyWhere(Prefix(segments, i))}{name(Dotted(segments, i))}: is a list; write its items as a YAML list");
                        }

                        type = null;
                        break;
                    }

                    type = item;
                    continue;
                }

                var property = IsSection(type) ? type.GetProperty(segments[i], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) : null;
                if (property is null)
                {
                    if (unknownKeys && reported.Add(Prefix(segments, i + 1)))
                    {
                        var names = IsSection(type) ? type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => Camel(p.Name)).ToList() : [];
                        var closest = Suggestions.Closest(segments[i], names);
                        var hint = !IsSection(type) ? $" ({Dotted(segments, i - 1)} is a value, not a section)"
                            : closest is not null ? $" (did you mean '{closest}'?)"
                            : $" (keys here: {string.Join(", ", names)})";
                        problems.Add($"{keyWhere(Prefix(segments, i + 1))}unknown key '{name(Dotted(segments, i + 1))}'{hint}");
                    }

                    type = null;
                    break;
                }

                type = property.PropertyType;
            }

            var port = segments[^1].EndsWith("port", StringComparison.OrdinalIgnoreCase) && type == typeof(int);
            if (port && value is not null && !(int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number <= 65535))
            {
                problems.Add($"{valueWhere(key)}{name(key.Replace(ConfigurationPath.KeyDelimiter, ".", StringComparison.Ordinal))}: '{value}' is not a port number (0 to 65535)");
            }
            else if (type is not null && value is not null && Expected(type, value) is { } expected)
            {
                problems.Add($"{valueWhere(key)}{name(key.Replace(ConfigurationPath.KeyDelimiter, ".", StringComparison.Ordinal))}: '{value}' is not {expected}");
            }
        }

        return problems;
    }

    // What a value of this type must look like, or null when the text is one.
    private static string? Expected(Type type, string text)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        var trimmed = text.Trim();
        return type switch
        {
            _ when type == typeof(int) => int.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _) ? null : $"a whole number from {int.MinValue} to {int.MaxValue}",
            _ when type == typeof(long) => long.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _) ? null : "a whole number",
            _ when type == typeof(double) => double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out _) ? null : "a number",
            _ when type == typeof(bool) => bool.TryParse(trimmed, out _) ? null : "true or false",
            _ when IsSection(type) || IsList(type, out _) || IsDictionary(type) => "a value: this key is a section of keys",
            _ => null,
        };
    }

    private static bool IsSection(Type type) => type.IsClass && type != typeof(string) && type.Namespace == typeof(HostSettings).Namespace;

    private static bool IsDictionary(Type type) => type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>);

    private static bool IsList(Type type, out Type item)
    {
        item = type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>) ? type.GetGenericArguments()[0] : typeof(void);
        return item != typeof(void);
    }

    private static string Prefix(string[] segments, int count) => string.Join(ConfigurationPath.KeyDelimiter, segments.Take(count));

    private static string Dotted(string[] segments, int count) => string.Join('.', segments.Take(count));

    private static string Camel(string name) => char.ToLowerInvariant(name[0]) + name[1..];
}
