using AutoReview.Cli;
using System.Diagnostics.CodeAnalysis;
using AutoReview.Bundle;
using AutoReview.Sandbox;
using CommandLine;

return await Cli.MainAsync(args);

namespace AutoReview.Cli
{
    internal static class Cli
    {
        public static Task<int> MainAsync(string[] args)
        {
            try
            {
                return Task.FromResult(Dispatch(args));
            }
            catch (UsageException e)
            {
                Console.Error.WriteLine($"auto-review: {e.Message} (see --help)");
                return Task.FromResult(ExitCodes.Usage);
            }
            catch (Exception e) when (e is BundleException or SandboxException)
            {
                Console.Error.WriteLine($"auto-review: {e.Message}");
                return Task.FromResult(ExitCodes.SandboxFailed);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"auto-review: {e.Message}");
                return Task.FromResult(ExitCodes.Error);
            }
        }

        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(DoctorOptions))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(ReviewOptions))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(GatewayOptions))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(SandboxVerb))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(ProbeOptions))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(BundleVerb))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(BundleInfoOptions))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(BundleListOptions))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(BundleVerifyOptions))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(BundlePruneOptions))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(BundlePathOptions))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(BundleExportOptions))]
        [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(BundleBuildOptions))]
        private static int Dispatch(string[] args)
        {
            // CommandLineParser has no nested verbs; "sandbox run|probe" is dispatched here.
            if (args is ["sandbox", "run", ..])
                return SandboxCommands.Run(SandboxRunArguments.Parse(args[2..]));
            if (args is ["sandbox", "probe", ..])
                return Parse<ProbeOptions>(args[2..], SandboxCommands.Probe);
            if (args is ["bundle", _, ..])
                return Parser(args).ParseArguments<BundleInfoOptions, BundleListOptions, BundleVerifyOptions, BundlePruneOptions,
                        BundlePathOptions, BundleExportOptions, BundleBuildOptions>(args[1..])
                    .MapResult(
                        (BundleInfoOptions o) => BundleCommands.Info(o),
                        (BundleListOptions o) => BundleCommands.List(o),
                        (BundleVerifyOptions o) => BundleCommands.Verify(o),
                        (BundlePruneOptions o) => BundleCommands.Prune(o),
                        (BundlePathOptions o) => BundleCommands.Path(o),
                        (BundleExportOptions o) => BundleCommands.Export(o),
                        (BundleBuildOptions o) => BundleCommands.Build(o),
                        errors => errors.IsHelp() || errors.IsVersion() ? ExitCodes.Ok : ExitCodes.Usage);
            if (args is ["sandbox", ..])
            {
                Console.Error.WriteLine("Usage: auto-review sandbox run [OPTIONS] -- COMMAND [ARGS...]\n       auto-review sandbox run --help");
                return args.Length > 1 && args[1] is "--help" or "-h" ? ExitCodes.Ok : ExitCodes.Usage;
            }

            return Parser(args).ParseArguments<ReviewOptions, DoctorOptions, SandboxVerb, BundleVerb, GatewayOptions>(args).MapResult(
                (ReviewOptions o) => ReviewCommand.Run(o),
                (DoctorOptions o) => DoctorCommand.Run(o),
                (GatewayOptions o) => GatewayCommand.Run(o),
                (SandboxVerb _) => ExitCodes.Usage,
                (BundleVerb _) => ExitCodes.Usage,
                errors => errors.IsHelp() || errors.IsVersion() ? ExitCodes.Ok : ExitCodes.Usage);
        }

        private static int Parse<T>(string[] args, Func<T, int> run) =>
            Parser(args).ParseArguments<T>(args).MapResult(run, errors => errors.IsHelp() || errors.IsVersion() ? ExitCodes.Ok : ExitCodes.Usage);

        private static Parser Parser(string[] args) => new(settings =>
        {
            settings.HelpWriter = args.Any(a => a is "--help" or "help" or "--version" or "version") ? Console.Out : Console.Error;
            settings.AllowMultiInstance = true;
            settings.CaseInsensitiveEnumValues = true;
        });
    }
}
