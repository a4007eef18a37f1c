using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AutoReview.TestInfrastructure;

/// <summary>
/// Kestrel bound to 127.0.0.1 on a port the kernel picks, with one terminal request handler, no logging
/// providers and no configuration sources. Start and stop are bounded.
/// </summary>
internal static class LoopbackKestrel
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Starts the server; <paramref name="certificate"/> null means plain HTTP.</summary>
    public static async Task<(WebApplication App, Uri BaseUri)> StartAsync(RequestDelegate handler, X509Certificate2? certificate, long? maxRequestBodySize)
    {
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(LoopbackKestrel).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(options =>
        {
            options.AddServerHeader = false;
            options.Limits.MaxRequestBodySize = maxRequestBodySize;
            options.Listen(IPAddress.Loopback, 0, listen =>
            {
                if (certificate is not null)
                    listen.UseHttps(certificate);
            });
        });
        WebApplication app = builder.Build();
        app.Run(handler);

        using (var start = new CancellationTokenSource(StartTimeout))
        {
            try
            {
                await app.StartAsync(start.Token).ConfigureAwait(false);
            }
            catch
            {
                await app.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        ICollection<string> addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        if (addresses.Count != 1)
        {
            await StopAsync(app).ConfigureAwait(false);
            throw new InvalidOperationException($"Kestrel reported {addresses.Count} bound addresses ({string.Join(", ", addresses)}), expected exactly one");
        }
        string address = addresses.Single();
        var bound = new Uri(address);
        if (!IPAddress.TryParse(bound.Host, out IPAddress? ip) || !IPAddress.IsLoopback(ip))
        {
            await StopAsync(app).ConfigureAwait(false);
            throw new InvalidOperationException($"Kestrel reported {address}, not a loopback address");
        }
        return (app, new UriBuilder(bound.Scheme, "127.0.0.1", bound.Port, "/").Uri);
    }

    /// <summary>Stops accepting, gives in-flight requests <see cref="StopTimeout"/> to finish (then aborts them), and releases the port.</summary>
    public static async Task StopAsync(WebApplication app)
    {
        try
        {
            using var stop = new CancellationTokenSource(StopTimeout);
            await app.StopAsync(stop.Token).ConfigureAwait(false);
        }
        finally
        {
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
