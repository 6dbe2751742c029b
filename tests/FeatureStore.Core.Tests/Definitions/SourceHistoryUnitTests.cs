using FeatureStore.Core.Definitions;

namespace FeatureStore.Core.Tests.Definitions;

/// <summary><c>history: { path, format, cutover }</c> on a source: read, checked with positions, and part of the content hash.</summary>
public sealed class SourceHistoryUnitTests
{
    private static LoadResult Load(string text) => FeatureRepositoryLoader.LoadFromText(text, "repo.yaml");

    // The minimal repository with lines added under its source (indented as its keys).
    private static string WithHistory(string lines) => RepositoryFiles.Minimal.Replace(
        "    timestamp_field: ts\n", "    timestamp_field: ts\n" + string.Concat(lines.Split('\n').Select(l => "    " + l + "\n")), StringComparison.Ordinal);

    private static Diagnostic Single(string text, string code)
    {
        var result = Load(text);
        Assert.Null(result.Repository);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(code, diagnostic.Code);
        return diagnostic;
    }

    [Fact]
    public void A_source_declares_its_history_with_path_format_and_cutover()
    {
        var result = Load(WithHistory("history:\n  path: history/orders.csv\n  format: csv\n  cutover: 2026-12-01T00:00:00Z"));

        Assert.Empty(result.Diagnostics);
        var history = result.Repository!.Sources[0].History;
        Assert.Equal(new SourceHistoryDefinition("history/orders.csv", "csv", 1_796_083_200_000), history);
    }

    [Fact]
    public void Format_and_cutover_are_optional_and_a_cutover_may_be_utc_text_or_epoch_ms()
    {
        Assert.Equal(new SourceHistoryDefinition("h.jsonl", null, null), Load(WithHistory("history: { path: h.jsonl }")).Repository!.Sources[0].History);
        Assert.Equal(1_796_083_200_000, Load(WithHistory("history: { path: h.jsonl, cutover: '2026-12-01 00:00:00' }")).Repository!.Sources[0].History!.CutoverMs);
        Assert.Equal(1_796_083_200_000, Load(WithHistory("history: { path: h.jsonl, cutover: 1796083200000 }")).Repository!.Sources[0].History!.CutoverMs);
        Assert.Null(Load(RepositoryFiles.Minimal).Repository!.Sources[0].History);
    }

    [Fact]
    public void A_wrong_history_declaration_is_refused_with_its_position()
    {
        var format = Single(WithHistory("history:\n  path: h.json\n  format: json"), "FS0113");
        Assert.Equal((12, 15), Position(format));
        Assert.Equal("did you mean 'jsonl'?", format.Hint);
        Assert.Contains("format", format.Message, StringComparison.Ordinal);

        var cutover = Single(WithHistory("history:\n  path: h.jsonl\n  cutover: yesterday"), "FS0113");
        Assert.Equal((12, 16), Position(cutover));
        Assert.Contains("cutover", cutover.Message, StringComparison.Ordinal);

        Assert.Equal((11, 13), Position(Single(WithHistory("history:\n  path: '  '"), "FS0113")));
        Assert.Equal((11, 13), Position(Single(WithHistory("history:\n  path: ''"), "FS0004")));
        Assert.Contains("path", Single(WithHistory("history:\n  format: csv"), "FS0004").Message, StringComparison.Ordinal);
        Assert.Equal("did you mean 'format'?", Single(WithHistory("history:\n  path: h.jsonl\n  formt: csv"), "FS0003").Hint);
        Single(WithHistory("history: h.jsonl"), "FS0002");
    }

    private static (int, int) Position(Diagnostic d) => (d.Line, d.Column);

    [Fact]
    public void The_history_is_part_of_the_content_hash_and_its_absence_keeps_the_old_one()
    {
        var none = Load(RepositoryFiles.Minimal).Repository!;
        var declared = Load(WithHistory("history: { path: h.jsonl }")).Repository!;
        var moved = Load(WithHistory("history: { path: h2.jsonl }")).Repository!;
        var cut = Load(WithHistory("history: { path: h.jsonl, cutover: 1796083200000 }")).Repository!;
        var sameCut = Load(WithHistory("history: { path: h.jsonl, cutover: '2026-12-01T01:00:00+01:00' }")).Repository!;

        Assert.DoesNotContain("history", none.ToCanonicalJson(), StringComparison.Ordinal);
        Assert.Equal(4, new[] { none, declared, moved, cut }.Select(r => r.ContentHash()).Distinct().Count());
        Assert.Equal(cut.ContentHash(), sameCut.ContentHash());
    }
}
