using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FeatureStore.Core.Definitions;

/// <summary>Collects diagnostics with positions from YAML nodes.</summary>
internal sealed class DiagnosticBag(string file)
{
    private readonly List<Diagnostic> _items = [];

    public string File { get; } = file;

    public IReadOnlyList<Diagnostic> Items => _items;

    public bool HasErrors => _items.Any(d => d.Severity == DiagnosticSeverity.Error);

    public void Error(YamlNode node, string code, string message, string? hint = null) => Error(node.Start, code, message, hint);

    public void Error(Mark mark, string code, string message, string? hint = null) =>
        _items.Add(new Diagnostic(File, (int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column), code, DiagnosticSeverity.Error, message, hint));
}

/// <summary>
/// A YAML mapping read against the keys it may have: unknown keys are reported with the closest known
/// one, missing required keys at the mapping itself.
/// </summary>
internal sealed class YamlMap
{
    private readonly Dictionary<string, (YamlScalarNode Key, YamlNode Value)> _entries = new(StringComparer.Ordinal);
    private readonly HashSet<string> _suggested = new(StringComparer.Ordinal);
    private readonly DiagnosticBag _bag;
    private readonly string _what;

    private YamlMap(YamlNode node, DiagnosticBag bag, string what)
    {
        Node = node;
        _bag = bag;
        _what = what;
    }

    public YamlNode Node { get; }

    /// <summary>Reads <paramref name="node"/> as a mapping with keys among <paramref name="allowed"/>; null (reported) when it is not one.</summary>
    public static YamlMap? Read(YamlNode? node, DiagnosticBag bag, string what, params string[] allowed)
    {
        if (node is not YamlMappingNode mapping)
        {
            if (node is not null)
            {
                bag.Error(node, "FS0002", $"{what} must be a mapping of keys to values", $"write {string.Join(", ", allowed.Take(3).Select(k => k + ": …"))}");
            }

            return null;
        }

        var map = new YamlMap(node, bag, what);
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode key || key.Value is null)
            {
                bag.Error(keyNode, "FS0002", $"keys of {what} must be plain names");
                continue;
            }

            if (!allowed.Contains(key.Value, StringComparer.Ordinal))
            {
                var closest = Closest(key.Value, allowed);
                if (closest is not null)
                {
                    map._suggested.Add(closest); // "did you mean" covers its absence
                }

                bag.Error(key, "FS0003", $"unknown key '{key.Value}' in {what}",
                    closest is null ? $"allowed keys: {string.Join(", ", allowed)}" : $"did you mean '{closest}'?");
                continue;
            }

            map._entries[key.Value] = (key, value);
        }

        return map;
    }

    public bool Has(string key) => _entries.ContainsKey(key);

    public YamlNode? Value(string key, bool required)
    {
        if (_entries.TryGetValue(key, out var e))
        {
            return e.Value;
        }

        if (required && !_suggested.Contains(key))
        {
            _bag.Error(Node, "FS0004", $"{_what} has no '{key}'", $"add {key}: …");
        }

        return null;
    }

    /// <summary>A scalar string value, or null (reported when required or not a scalar).</summary>
    public string? String(string key, bool required, out YamlNode? node)
    {
        node = Value(key, required);
        switch (node)
        {
            case null:
                return null;
            case YamlScalarNode { Value: { Length: > 0 } text } scalar when scalar.Style != ScalarStyle.Plain || !IsNull(text):
                return text;
            case YamlScalarNode:
                _bag.Error(node, "FS0004", $"'{key}' of {_what} is empty", $"give {key} a value");
                return null;
            default:
                _bag.Error(node, "FS0002", $"'{key}' of {_what} must be a single value, not a list or mapping");
                return null;
        }
    }

    public string? String(string key, bool required) => String(key, required, out _);

    /// <summary>A name: lower-case letters, digits, underscores, starting with a letter.</summary>
    public string? Name(string key, bool required, out YamlNode? node)
    {
        var text = String(key, required, out node);
        if (text is not null && !IsName(text))
        {
            _bag.Error(node!, "FS0011", $"'{text}' is not a valid name for {key}", $"use lower-case letters, digits and underscores, starting with a letter, e.g. '{Suggest(text)}'");
            return null;
        }

        return text;
    }

    public long? Duration(string key, bool required, out YamlNode? node)
    {
        var text = String(key, required, out node);
        if (text is null)
        {
            return null;
        }

        if (!Definitions.Duration.TryParse(text, out var ms, out var hint) || ms <= 0)
        {
            _bag.Error(node!, "FS0010", $"'{text}' is not a duration for {key}", hint ?? "write a positive duration such as 5m, 1h or 7d");
            return null;
        }

        return ms;
    }

    public double? Number(string key, out YamlNode? node)
    {
        var text = String(key, required: false, out node);
        if (text is null)
        {
            return null;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            _bag.Error(node!, "FS0125", $"'{text}' is not a number for {key}", "write a number such as 0.2");
            return null;
        }

        return value;
    }

    public long? Integer(string key, long min, out YamlNode? node)
    {
        var text = String(key, required: false, out node);
        if (text is null)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min)
        {
            _bag.Error(node!, "FS0125", $"'{text}' is not a whole number ≥ {min} for {key}", $"write a whole number such as {Math.Max(min, 10)}");
            return null;
        }

        return value;
    }

    /// <summary>The items of a list value (a single scalar counts as a one-item list when <paramref name="scalarOk"/>).</summary>
    public IReadOnlyList<YamlNode> List(string key, bool required, bool scalarOk = false)
    {
        var node = Value(key, required);
        switch (node)
        {
            case null:
                return [];
            case YamlSequenceNode sequence:
                return sequence.Children.ToList();
            case YamlScalarNode when scalarOk:
                return [node];
            case YamlScalarNode { Value: var v } when v is null || IsNull(v):
                return [];
            default:
                _bag.Error(node, "FS0002", $"'{key}' of {_what} must be a list", $"write {key}: [ … ] or one '- item' per line");
                return [];
        }
    }

    /// <summary>A mapping of names to scalars (e.g. <c>fields: {amount: double}</c>), in order.</summary>
    public IReadOnlyList<(YamlScalarNode Key, YamlScalarNode Value)> Pairs(string key, bool required)
    {
        var node = Value(key, required);
        if (node is null)
        {
            return [];
        }

        if (node is not YamlMappingNode mapping)
        {
            _bag.Error(node, "FS0002", $"'{key}' of {_what} must be a mapping of names to types", $"write {key}: {{ amount: double }}");
            return [];
        }

        var pairs = new List<(YamlScalarNode, YamlScalarNode)>();
        foreach (var (k, v) in mapping.Children)
        {
            if (k is YamlScalarNode ks && v is YamlScalarNode vs && ks.Value is not null && vs.Value is not null)
            {
                pairs.Add((ks, vs));
            }
            else
            {
                _bag.Error(k, "FS0002", $"each entry of '{key}' must be 'name: type'");
            }
        }

        return pairs;
    }

    internal static bool IsName(string text) =>
        text.Length is > 0 and <= 128 && char.IsAsciiLetterLower(text[0]) && text.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');

    internal static string? Closest(string word, IEnumerable<string> candidates) => Suggestions.Closest(word, candidates);

    private static bool IsNull(string text) => text is "~" or "null" or "Null" or "NULL" or "";

    private static string Suggest(string text)
    {
        var cleaned = new string([.. text.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_')]).Trim('_');
        return cleaned.Length > 0 && char.IsAsciiLetterLower(cleaned[0]) ? cleaned : "x_" + cleaned;
    }
}
