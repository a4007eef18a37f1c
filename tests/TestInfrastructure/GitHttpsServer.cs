using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AutoReview.TestInfrastructure;

/// <summary>One request the git server answered.</summary>
/// <param name="Path">The request path, e.g. <c>/demo.git/info/refs</c>.</param>
/// <param name="QueryString">The raw query including '?', or empty.</param>
/// <param name="StatusCode">The status sent (from the CGI's <c>Status:</c>, or this server's own error status).</param>
/// <param name="HttpProtocol">"HTTP/1.1" or "HTTP/2" (curl may negotiate h2 through ALPN).</param>
/// <param name="GitProtocol">The <c>Git-Protocol</c> request header ("version=2" for protocol v2), or null.</param>
/// <param name="ContentEncoding">The request's <c>Content-Encoding</c> (git gzips large POST bodies), or null.</param>
/// <param name="ContentLength">The request's Content-Length, or null for a body of unannounced length (HTTP/1.1 chunked, or HTTP/2 without the header).</param>
public sealed record GitRequest(
    DateTimeOffset Time,
    string Method,
    string Path,
    string QueryString,
    int StatusCode,
    string RemoteAddress,
    string HttpProtocol,
    string? GitProtocol,
    string? ContentEncoding,
    long? ContentLength)
{
    public override string ToString() => $"{Method} {Path}{QueryString} -> {StatusCode} ({HttpProtocol}, from {RemoteAddress}, Git-Protocol: {GitProtocol ?? "-"})";
}

/// <summary>
/// A smart-HTTP git server over TLS on 127.0.0.1: Kestrel with the test CA's server certificate, every request
/// handed to the real <c>git http-backend</c> as a CGI program (RFC 3875), serving the bare repositories under
/// <see cref="ProjectRoot"/> (all exported, GIT_HTTP_EXPORT_ALL). Anonymous push is refused, as http-backend
/// does by default, unless the repository was created with <c>allowAnonymousPush</c>; seed repositories with
/// <see cref="RepositoryBuilder.PushAsync"/> over the local transport.
/// </summary>
public sealed class GitHttpsServer : IAsyncDisposable
{
    /// <summary>The most time one http-backend run may take; it is killed after that.</summary>
    public static readonly TimeSpan BackendTimeout = TimeSpan.FromSeconds(120);

    private const int MaxCgiHeaderBytes = 64 * 1024;
    private const int MaxStderrChars = 16 * 1024;

    // Request headers that do not become HTTP_* variables: CGI carries these as CONTENT_* or not at all
    // (credentials, as Apache does), or they describe this hop only.
    private static readonly HashSet<string> HeadersNotForwarded = new(StringComparer.OrdinalIgnoreCase)
    {
        "Content-Type", "Content-Length", "Authorization", "Proxy-Authorization",
        "Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Upgrade", "Expect",
    };

    // CGI response headers this server must not copy: framing is Kestrel's job.
    private static readonly HashSet<string> ResponseHeadersNotCopied = new(StringComparer.OrdinalIgnoreCase)
    {
        "Status", "Connection", "Keep-Alive", "Transfer-Encoding",
    };

    private readonly object gate = new();
    private readonly List<GitRequest> requests = [];
    private readonly List<string> backendErrors = [];
    private readonly ConcurrentDictionary<int, Process> running = new();
    private readonly TemporaryDirectory backendHome = new("ar-git-backend-home-");
    private readonly string gitPath;
    private WebApplication? app;
    private int disposed;

    private GitHttpsServer(string projectRoot)
    {
        ProjectRoot = projectRoot;
        gitPath = ProcessRunner.FindOnPath("git");
    }

    /// <summary>The directory whose bare repositories are served (GIT_PROJECT_ROOT).</summary>
    public string ProjectRoot { get; }

    /// <summary><c>https://127.0.0.1:PORT/</c>.</summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>The clone URL of the repository <paramref name="name"/> (e.g. "demo.git") under <see cref="ProjectRoot"/>.</summary>
    public Uri RepositoryUri(string name) => new(BaseUri, name);

    /// <summary>A snapshot of every request answered so far, in the order their responses started.</summary>
    public IReadOnlyList<GitRequest> Requests
    {
        get
        {
            lock (gate)
                return requests.ToArray();
        }
    }

    /// <summary>A snapshot of http-backend failures (non-zero exit, stderr output, timeouts), for diagnosing a failing test.</summary>
    public IReadOnlyList<string> BackendErrors
    {
        get
        {
            lock (gate)
                return backendErrors.ToArray();
        }
    }

    /// <summary>The process ids of the http-backend runs in progress (a snapshot).</summary>
    public IReadOnlyList<int> RunningBackendProcessIds => running.Keys.ToArray();

    /// <summary>Starts serving <paramref name="projectRoot"/> over TLS with <paramref name="ca"/>'s server certificate.</summary>
    public static async Task<GitHttpsServer> StartAsync(string projectRoot, TestCertificateAuthority ca)
    {
        ArgumentNullException.ThrowIfNull(ca);
        string root = Path.GetFullPath(projectRoot);
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"project root {root} does not exist");
        var server = new GitHttpsServer(root);
        try
        {
            // git sends whole packs in one POST; no body size limit (the CGI run is bounded by BackendTimeout instead).
            (server.app, server.BaseUri) = await LoopbackKestrel.StartAsync(server.HandleAsync, ca.ServerCertificate, maxRequestBodySize: null).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Creates an empty bare repository <paramref name="name"/> (e.g. "demo.git") under <paramref name="projectRoot"/>
    /// with HEAD on <c>main</c>, using real <c>git init --bare</c>; returns its path.
    /// </summary>
    /// <param name="allowAnonymousPush">Sets <c>http.receivepack=true</c> in the repository, so anyone may push over HTTPS
    /// (http-backend otherwise refuses git-receive-pack to a client that did not authenticate).</param>
    public static string CreateBareRepository(string projectRoot, string name, bool allowAnonymousPush = false)
    {
        if (name.Length == 0 || name.Contains('/') || name.Contains('\\') || name is "." or "..")
            throw new ArgumentException($"'{name}' is not a plain directory name", nameof(name));
        string path = Path.Combine(Path.GetFullPath(projectRoot), name);
        if (Directory.Exists(path) || File.Exists(path))
            throw new IOException($"{path} already exists");
        var env = new Dictionary<string, string>
        {
            ["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
            ["HOME"] = Path.GetFullPath(projectRoot),
            ["GIT_CONFIG_NOSYSTEM"] = "1",
            ["GIT_CONFIG_GLOBAL"] = "/dev/null",
            ["LC_ALL"] = "C",
        };
        // Every await below uses ConfigureAwait(false), so blocking here cannot deadlock a synchronization context.
        string git = ProcessRunner.FindOnPath("git");
        ProcessResult result = ProcessRunner.RunAsync(git, ["init", "--quiet", "--bare", "--initial-branch=main", path], env, projectRoot)
            .GetAwaiter().GetResult();
        if (result.Succeeded && allowAnonymousPush)
            result = ProcessRunner.RunAsync(git, ["config", "http.receivepack", "true"], env, path).GetAwaiter().GetResult();
        return result.Succeeded ? path : throw new GitCommandException(result);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
            return;
        try
        {
            if (app is not null)
                await LoopbackKestrel.StopAsync(app).ConfigureAwait(false);
        }
        finally
        {
            // Requests still running were aborted by the stop; make sure no http-backend outlives the server.
            foreach (Process process in running.Values)
                ProcessRunner.KillTree(process);
            backendHome.Dispose();
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        string pathInfo = request.Path.Value ?? "/";
        if (pathInfo.Contains('\0') || pathInfo.Split('/').Any(segment => segment is ".."))
        {
            await RespondPlainAsync(context, StatusCodes.Status404NotFound, "not found\n").ConfigureAwait(false);
            return;
        }

        var start = new ProcessStartInfo(gitPath)
        {
            ArgumentList = { "http-backend" },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = ProjectRoot,
            StandardInputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.Environment.Clear();
        foreach ((string name, string value) in CgiEnvironment(context, pathInfo))
            start.Environment[name] = value;

        using var process = new Process { StartInfo = start };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(BackendTimeout);
        if (!process.Start())
            throw new InvalidOperationException("could not start git http-backend");
        running[process.Id] = process;
        using CancellationTokenRegistration killOnCancel = deadline.Token.Register(() => ProcessRunner.KillTree(process));
        using var stopPump = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
        Task<string> stderr = ReadBoundedAsync(process.StandardError);
        Task pumpBody = PumpRequestBodyAsync(request.Body, process, stopPump.Token);
        try
        {
            Stream stdout = process.StandardOutput.BaseStream;
            CgiHeaders? headers;
            try
            {
                headers = await ReadCgiHeadersAsync(stdout, deadline.Token).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                NoteBackendError(context, e.Message);
                await RespondPlainAsync(context, StatusCodes.Status502BadGateway, e.Message + "\n").ConfigureAwait(false);
                return;
            }
            if (headers is null)
            {
                await WaitForExitAsync(process).ConfigureAwait(false);
                string message = $"git http-backend ended without CGI headers (exit {ExitCodeOrNone(process)})\n{await StderrAsync(stderr).ConfigureAwait(false)}";
                NoteBackendError(context, message);
                await RespondPlainAsync(context, StatusCodes.Status502BadGateway, message).ConfigureAwait(false);
                return;
            }

            HttpResponse response = context.Response;
            response.StatusCode = headers.StatusCode;
            foreach ((string name, string value) in headers.Fields)
            {
                if (!ResponseHeadersNotCopied.Contains(name))
                    response.Headers.Append(name, value);
            }
            Log(context, headers.StatusCode);

            await response.Body.WriteAsync(headers.BodyStart, deadline.Token).ConfigureAwait(false);
            await stdout.CopyToAsync(response.Body, deadline.Token).ConfigureAwait(false);

            // Any request body http-backend left unread (an error answer need not read it) is dropped in finally.
            await WaitForExitAsync(process).ConfigureAwait(false);
            string errors = await StderrAsync(stderr).ConfigureAwait(false);
            if (process.ExitCode != 0 || errors.Length > 0)
                NoteBackendError(context, $"git http-backend exit {process.ExitCode}\n{errors}");
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
        {
            NoteBackendError(context, $"git http-backend did not finish within {BackendTimeout.TotalSeconds:0} s and was killed");
            if (!context.Response.HasStarted)
            {
                Log(context, StatusCodes.Status504GatewayTimeout);
                context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
            }
            else
            {
                context.Abort();
            }
        }
        finally
        {
            // Whatever happened, no http-backend and no body pump outlive the request.
            running.TryRemove(process.Id, out _);
            ProcessRunner.KillTree(process);
            await stopPump.CancelAsync().ConfigureAwait(false);
            try
            {
                await pumpBody.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or TimeoutException or InvalidOperationException)
            {
                // the pump ends with the process or the request; its errors are not the response's
            }
        }
    }

    /// <summary>The RFC 3875 meta-variables plus what git needs; nothing inherited from this process but PATH.</summary>
    private Dictionary<string, string> CgiEnvironment(HttpContext context, string pathInfo)
    {
        HttpRequest request = context.Request;
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
            ["HOME"] = backendHome.Path,
            ["GIT_CONFIG_NOSYSTEM"] = "1",
            ["LC_ALL"] = "C",
            ["GIT_PROJECT_ROOT"] = ProjectRoot,
            ["GIT_HTTP_EXPORT_ALL"] = "1",
            ["GATEWAY_INTERFACE"] = "CGI/1.1",
            ["SERVER_SOFTWARE"] = "AutoReview.TestInfrastructure.GitHttpsServer",
            ["SERVER_PROTOCOL"] = request.Protocol,
            ["SERVER_NAME"] = "127.0.0.1",
            ["SERVER_PORT"] = context.Connection.LocalPort.ToString(CultureInfo.InvariantCulture),
            ["HTTPS"] = "on",
            ["REQUEST_METHOD"] = request.Method,
            ["REQUEST_URI"] = request.Path.ToUriComponent() + request.QueryString.ToUriComponent(),
            ["SCRIPT_NAME"] = "",
            ["PATH_INFO"] = pathInfo,
            ["QUERY_STRING"] = request.QueryString.HasValue ? request.QueryString.Value!.TrimStart('?') : "",
            ["REMOTE_ADDR"] = context.Connection.RemoteIpAddress?.ToString() ?? "",
            ["REMOTE_PORT"] = context.Connection.RemotePort.ToString(CultureInfo.InvariantCulture),
        };
        if (request.ContentType is { } contentType)
            env["CONTENT_TYPE"] = contentType;
        // Only when the client sent one: without CONTENT_LENGTH http-backend reads the body to EOF (chunked uploads).
        if (request.ContentLength is { } length)
            env["CONTENT_LENGTH"] = length.ToString(CultureInfo.InvariantCulture);
        foreach ((string name, Microsoft.Extensions.Primitives.StringValues values) in request.Headers)
        {
            if (name.StartsWith(':') || HeadersNotForwarded.Contains(name))
                continue;
            // e.g. Content-Encoding: gzip -> HTTP_CONTENT_ENCODING, which http-backend inflates itself.
            env["HTTP_" + name.ToUpperInvariant().Replace('-', '_')] = values.ToString();
        }
        // Protocol v2: http-backend (git >= 2.18) reads GIT_PROTOCOL; web servers are told to map the header to it.
        if (request.Headers.TryGetValue("Git-Protocol", out Microsoft.Extensions.Primitives.StringValues gitProtocol))
            env["GIT_PROTOCOL"] = gitProtocol.ToString();
        return env;
    }

    private static async Task PumpRequestBodyAsync(Stream body, Process process, CancellationToken cancellationToken)
    {
        await Task.Yield();
        Stream stdin = process.StandardInput.BaseStream;
        try
        {
            await body.CopyToAsync(stdin, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // EOF on stdin ends the body for a chunked request (no CONTENT_LENGTH).
            try
            {
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // the backend already closed its end
            }
        }
    }

    private sealed record CgiHeaders(int StatusCode, List<(string Name, string Value)> Fields, ReadOnlyMemory<byte> BodyStart);

    /// <summary>Reads the CGI header block (lines up to an empty line, CRLF or LF); null if the output ended first.</summary>
    private static async Task<CgiHeaders?> ReadCgiHeadersAsync(Stream stdout, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[MaxCgiHeaderBytes];
        int filled = 0;
        while (true)
        {
            int end = FindHeaderEnd(buffer.AsSpan(0, filled), out int separatorLength);
            if (end >= 0)
            {
                string block = Encoding.Latin1.GetString(buffer, 0, end);
                int bodyStart = end + separatorLength;
                return ParseCgiHeaders(block, buffer.AsMemory(bodyStart, filled - bodyStart));
            }
            if (filled == buffer.Length)
                throw new InvalidDataException($"git http-backend sent more than {MaxCgiHeaderBytes} bytes of headers");
            int read = await stdout.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
                return null;
            filled += read;
        }
    }

    private static int FindHeaderEnd(ReadOnlySpan<byte> data, out int separatorLength)
    {
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] != (byte)'\n')
                continue;
            if (i + 1 < data.Length && data[i + 1] == (byte)'\n')
            {
                separatorLength = 2;
                return i;
            }
            if (i + 2 < data.Length && data[i + 1] == (byte)'\r' && data[i + 2] == (byte)'\n')
            {
                separatorLength = 3;
                return i;
            }
        }
        separatorLength = 0;
        return -1;
    }

    private static CgiHeaders ParseCgiHeaders(string block, ReadOnlyMemory<byte> bodyStart)
    {
        var fields = new List<(string, string)>();
        int? status = null;
        bool hasLocation = false;
        foreach (string rawLine in block.Split('\n'))
        {
            string line = rawLine.TrimEnd('\r');
            if (line.Length == 0)
                continue;
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
                throw new InvalidDataException($"git http-backend sent a malformed CGI header line: '{line}'");
            string name = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            if (name.Equals("Status", StringComparison.OrdinalIgnoreCase))
            {
                string code = value.Split(' ', 2)[0];
                status = int.TryParse(code, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) && parsed is >= 100 and <= 599
                    ? parsed
                    : throw new InvalidDataException($"git http-backend sent an invalid Status header: '{value}'");
            }
            hasLocation |= name.Equals("Location", StringComparison.OrdinalIgnoreCase);
            fields.Add((name, value));
        }
        // RFC 3875 6.3.3: no Status means 200, or 302 for a redirect.
        return new CgiHeaders(status ?? (hasLocation ? StatusCodes.Status302Found : StatusCodes.Status200OK), fields, bodyStart);
    }

    private static async Task<string> ReadBoundedAsync(StreamReader reader)
    {
        var kept = new StringBuilder();
        char[] chunk = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(chunk, CancellationToken.None).ConfigureAwait(false)) > 0)
        {
            // Keep reading to EOF so the backend never blocks on a full pipe, but keep only the first part.
            if (kept.Length < MaxStderrChars)
                kept.Append(chunk, 0, Math.Min(read, MaxStderrChars - kept.Length));
        }
        return kept.ToString();
    }

    /// <summary>The backend's stderr once it ends, without waiting on a descendant that might hold the pipe open.</summary>
    private static async Task<string> StderrAsync(Task<string> stderr)
    {
        try
        {
            return await stderr.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return "(stderr unavailable: the pipe stayed open after http-backend exited)";
        }
    }

    private static async Task WaitForExitAsync(Process process)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            ProcessRunner.KillTree(process);
            throw new TimeoutException("git http-backend closed its output but did not exit within 10 s");
        }
    }

    private static string ExitCodeOrNone(Process process) =>
        process.HasExited ? process.ExitCode.ToString(CultureInfo.InvariantCulture) : "none";

    private async Task RespondPlainAsync(HttpContext context, int status, string body)
    {
        Log(context, status);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    private void Log(HttpContext context, int status)
    {
        HttpRequest request = context.Request;
        var entry = new GitRequest(
            DateTimeOffset.UtcNow,
            request.Method,
            request.Path.Value ?? "/",
            request.QueryString.Value ?? "",
            status,
            context.Connection.RemoteIpAddress?.ToString() ?? "",
            request.Protocol,
            request.Headers.TryGetValue("Git-Protocol", out var gitProtocol) ? gitProtocol.ToString() : null,
            request.Headers.TryGetValue("Content-Encoding", out var encoding) ? encoding.ToString() : null,
            request.ContentLength);
        lock (gate)
            requests.Add(entry);
    }

    private void NoteBackendError(HttpContext context, string message)
    {
        lock (gate)
            backendErrors.Add($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString}: {message}");
    }
}
