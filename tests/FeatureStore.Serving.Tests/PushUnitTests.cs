using System.Text;
using FeatureStore.Serving.Internal;
using FeatureStore.Serving.Internal.Push;

namespace FeatureStore.Serving.Tests;

/// <summary>The push API's pure parts: API key scopes, and how an HTTP body is cut into events.</summary>
public sealed class PushUnitTests
{
    [Fact]
    public void An_api_key_reads_only_unless_its_text_ends_in_a_scope()
    {
        Assert.Equal(ApiKeyScopes.Read, ApiKey.Parse("k1").Scopes);
        Assert.Equal(ApiKeyScopes.Read, ApiKey.Parse("k1:user_stats").Scopes);
        Assert.Equal(ApiKeyScopes.Write, ApiKey.Parse("k1@write").Scopes);
        Assert.Equal("k1", ApiKey.Parse("k1@write").Key);
        var both = ApiKey.Parse("k1:user_stats,user_spend@read+write");
        Assert.Equal((ApiKeyScopes.Read | ApiKeyScopes.Write, "k1"), (both.Scopes, both.Key));
        Assert.Equal(["user_stats", "user_spend"], both.Views!);
        // An '@' that does not start a scope is part of the key.
        Assert.Equal(("k@1", ApiKeyScopes.Read), (ApiKey.Parse("k@1").Key, ApiKey.Parse("k@1").Scopes));
        Assert.Throws<ArgumentException>(() => ApiKey.Parse("@write"));
    }

    [Fact]
    public void The_write_scope_is_needed_to_push_and_the_read_scope_to_read()
    {
        var policy = new ApiKeyPolicy([ApiKey.Parse("r"), ApiKey.Parse("w@write"), ApiKey.Parse("rw@read+write")]);
        Assert.Equal(Grpc.Core.StatusCode.PermissionDenied, Assert.Throws<LookupException>(() => policy.AuthenticateWrite("r")).Status);
        policy.AuthenticateWrite("w");
        policy.AuthenticateWrite("rw");
        Assert.Equal(Grpc.Core.StatusCode.Unauthenticated, Assert.Throws<LookupException>(() => policy.AuthenticateWrite("x")).Status);
        Assert.Equal(Grpc.Core.StatusCode.Unauthenticated, Assert.Throws<LookupException>(() => policy.AuthenticateWrite(null)).Status);
        Assert.Equal(Grpc.Core.StatusCode.PermissionDenied, Assert.Throws<LookupException>(() => policy.Authenticate("w")).Status);
        Assert.Null(policy.Authenticate("rw"));

        // Without keys, everything is open, as lookups are.
        new ApiKeyPolicy([]).AuthenticateWrite(null);
    }

    [Theory]
    [InlineData("application/json", false)]
    [InlineData("application/json; charset=utf-8", false)]
    [InlineData("APPLICATION/JSON", false)]
    [InlineData("application/x-ndjson", true)]
    [InlineData("application/jsonl", true)]
    [InlineData("text/plain", null)]
    [InlineData("", null)]
    [InlineData(null, null)]
    public void The_content_type_says_how_the_body_holds_its_events(string? contentType, bool? lines) =>
        Assert.Equal(lines, PushEndpoint.BodyKind(contentType));

    [Fact]
    public void A_json_array_is_cut_into_its_elements_exactly()
    {
        var body = Encoding.UTF8.GetBytes(""" [ {"a":1,"b":[1,{"c":"]"}]} , {"a":"x\"}"} ,3, "s" ] """);
        var (events, lines) = PushEndpoint.SplitArray(body);
        Assert.Null(lines);
        Assert.Equal(["""{"a":1,"b":[1,{"c":"]"}]}""", """{"a":"x\"}"}""", "3", "\"s\""], events.Select(e => Encoding.UTF8.GetString(e.Span)));
        Assert.Single(PushEndpoint.SplitArray("""{"a":1}"""u8.ToArray()).Events);
        Assert.Empty(PushEndpoint.SplitArray("[]"u8.ToArray()).Events);
    }

    [Theory]
    [InlineData("[{\"a\":1},\n{\"a\":", "line 2")]
    [InlineData("[{\"a\":1}] [", "more after the end")]
    [InlineData("", "empty body")]
    [InlineData("42", "must be a JSON array")]
    public void A_body_that_is_not_an_array_of_events_is_refused_saying_where(string body, string said)
    {
        var refused = Assert.Throws<LookupException>(() => PushEndpoint.SplitArray(Encoding.UTF8.GetBytes(body)));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refused.Status);
        Assert.Contains(said, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_lines_are_cut_at_each_newline_blank_lines_skipped_and_each_event_keeps_its_line()
    {
        var (events, lines) = PushEndpoint.SplitLines(Encoding.UTF8.GetBytes("{\"a\":1}\r\n\n  \n{not json\n{\"a\":2}"));
        Assert.Equal(["{\"a\":1}", "{not json", "{\"a\":2}"], events.Select(e => Encoding.UTF8.GetString(e.Span)));
        Assert.Equal([1, 4, 5], lines!);
        Assert.Empty(PushEndpoint.SplitLines(ReadOnlyMemory<byte>.Empty).Events);
    }
}
