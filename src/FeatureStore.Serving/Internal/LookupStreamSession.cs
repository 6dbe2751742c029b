using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace FeatureStore.Serving.Internal;

/// <summary>One answer on a lookup stream: the lookup's answer, or the status and message it failed with.</summary>
internal sealed class LookupResult
{
    public LookupResult(LookupAnswer answer) => Answer = answer;

    public LookupResult(StatusCode status, string error)
    {
        Status = status;
        Error = error;
    }

    public LookupAnswer? Answer { get; }

    public StatusCode Status { get; }

    public string? Error { get; }
}

/// <summary>
/// Serves one <c>StreamOnlineFeatures</c> call: each message read (a batch of lookups) starts at once, its
/// lookups read from the store together (<see cref="OnlineLookup.RunManyAsync"/>), up to
/// <see cref="MaxInFlight"/> messages at a time (reading waits beyond that), and one writer answers the
/// messages in the order they came, each as soon as it and those before it are done. Answers already done
/// behind the one being written go out with it (written without a flush in between). A failed lookup answers
/// with its status and the stream goes on.
/// </summary>
internal sealed class LookupStreamSession(OnlineLookup lookup, string? apiKey, ILogger logger)
{
    /// <summary>Messages of one stream worked on at once.</summary>
    public const int MaxInFlight = 16;

    private static readonly WriteOptions Buffered = new(WriteFlags.BufferHint);
    private static readonly WriteOptions Flushed = new();

    /// <summary>
    /// Answers the stream's requests until the client ends it, the call is cancelled, or
    /// <paramref name="stopping"/> (the host shutting down): then the requests read are answered and the stream
    /// ends, and the client opens a new one to wherever it connects next.
    /// </summary>
    public async Task RunAsync(IAsyncStreamReader<List<LookupRequest>> requests, IServerStreamWriter<LookupResult[]> answers, CancellationToken cancellationToken, CancellationToken stopping)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, stopping);
        var pending = Channel.CreateBounded<Task<LookupResult[]>>(new BoundedChannelOptions(MaxInFlight) { SingleReader = true, SingleWriter = true });
        var writing = WriteAllAsync(pending.Reader, answers, stop);
        Exception? ending = null;
        try
        {
            while (await NextAsync(requests, lookup, reading.Token).ConfigureAwait(false))
            {
                await pending.Writer.WriteAsync(AnswerAsync(requests.Current, stop.Token), stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (reading.IsCancellationRequested)
        {
            // The call was cancelled, the writer failed (its exception ends the call below), or the host is
            // shutting down (the stream ends once the requests read are answered).
        }
        catch (Exception ex)
        {
            // A malformed or oversized message (its status), or the connection failing: the messages read before
            // it are still answered, then the stream ends with it.
            ending = ex;
        }
        finally
        {
            pending.Writer.TryComplete();
        }

        try
        {
            await writing.ConfigureAwait(false);
        }
        catch (Exception) when (ending is not null)
        {
            // The reading side's failure is the one the stream ends with.
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (ending is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ending);
        }
    }

    private static async ValueTask<bool> NextAsync(IAsyncStreamReader<List<LookupRequest>> requests, OnlineLookup lookup, CancellationToken cancellationToken)
    {
        try
        {
            return await requests.MoveNext(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Refusal(ex) is { } refusal)
        {
            // How many lookups the message held is unknown: it counts as one refused lookup (taking no time: the
            // wait for the message is the client's).
            lookup.Refused(refusal, "grpc-stream", System.Diagnostics.Stopwatch.GetTimestamp());
            throw refusal.ToRpc();
        }
    }

    /// <summary>
    /// The client's fault in a message that could not be read: our parser's refusal, or the framework's (it
    /// reports a message over the size limit, and may wrap the parser's exception, as an RpcException).
    /// </summary>
    private static LookupException? Refusal(Exception ex) =>
        Malformed(ex) ?? (ex is RpcException { StatusCode: StatusCode.InvalidArgument or StatusCode.ResourceExhausted } rpc
            ? new LookupException(rpc.StatusCode, rpc.Status.Detail)
            : null);

    private static LookupException? Malformed(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is LookupException lookupException)
            {
                return lookupException;
            }
        }

        return null;
    }

    private async Task<LookupResult[]> AnswerAsync(List<LookupRequest> requests, CancellationToken cancellationToken)
    {
        try
        {
            return await lookup.RunManyAsync(requests, apiKey, "grpc-stream", cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            logger.StreamedLookupCrashed(ex);
            var failed = new LookupResult(StatusCode.Internal, "the lookup failed on the server (see its log)");
            return [.. requests.Select(_ => failed)];
        }
    }

    private static async Task WriteAllAsync(ChannelReader<Task<LookupResult[]>> pending, IServerStreamWriter<LookupResult[]> answers, CancellationTokenSource stop)
    {
        try
        {
            while (await pending.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (pending.TryRead(out var next))
                {
                    var answer = await next.ConfigureAwait(false);
                    answers.WriteOptions = pending.TryPeek(out var after) && after.IsCompleted ? Buffered : Flushed;
                    await answers.WriteAsync(answer).ConfigureAwait(false);
                }
            }
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }
}
